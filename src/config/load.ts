// Builds rbuddy's configuration. Precedence: defaults < --config FILE.json (or RBUDDY_CONFIG) <
// environment < flags. Every problem becomes one ConfigError line naming the setting and where
// its value came from; secret values are never quoted.

import { isIPv6 } from 'node:net';
import convict from 'convict';
import { ConfigError } from '../errors.js';
import { parseArgs } from './argv.js';
import { locateConfigFile, readConfigFile } from './config-file.js';
import { checkEtcdSettings } from './etcd-checks.js';
import { FORMATS } from './formats.js';
import { isHostPort } from './host-port.js';
import { checkReplicaCredentials } from './replica-credentials.js';
import { checkTlsSettings } from './tls-checks.js';
import { SETTING_KEYS, SETTINGS, type SettingKey, type Settings } from './schema.js';
import type { Setting } from './setting.js';
import { formatHostPort, type HostPort, type RbuddyConfig } from './types.js';

// convict keeps formats in a module-wide registry; only this module uses convict.
convict.addFormats(
  Object.fromEntries(
    Object.entries(FORMATS).map(([name, spec]) => [
      name,
      spec.coerce === undefined
        ? { validate: spec.validate }
        : { validate: spec.validate, coerce: spec.coerce },
    ]),
  ),
);

interface LoadConfigOptions {
  argv: readonly string[];
  env: Record<string, string | undefined>;
}

const MAX_ECHO_LENGTH = 80;

function echo(value: unknown): string {
  const text = isHostPort(value) ? formatHostPort(value) : value;
  const json = JSON.stringify(text) ?? String(text);
  return json.length > MAX_ECHO_LENGTH ? `${json.slice(0, MAX_ECHO_LENGTH)}...` : json;
}

function loopbackFor(listen: HostPort): HostPort {
  if (listen.host === '0.0.0.0') return { host: '127.0.0.1', port: listen.port };
  // Any spelling of the IPv6 wildcard ("::", "0::0"...) normalises to "[::]".
  if (isIPv6(listen.host) && new URL(`http://[${listen.host}]/`).hostname === '[::]') {
    return { host: '::1', port: listen.port };
  }
  return listen;
}

/**
 * Checks every setting's value with its format; the problems, one per bad setting. convict's
 * getProperties() is typed as the finished shape, but until these checks pass the values are
 * whatever the sources held: read them as unknown.
 */
function checkValues(
  values: Readonly<Record<SettingKey, unknown>>,
  sourceOf: (key: SettingKey) => string,
): ConfigError[] {
  const problems: ConfigError[] = [];
  for (const key of SETTING_KEYS) {
    const setting: Setting<unknown> = SETTINGS[key];
    const value = values[key];
    if (value === null || value === undefined) {
      if (setting.nullable === true) continue;
      problems.push(
        new ConfigError(
          `missing required setting "${key}": give --${setting.arg} ${FORMATS[setting.format].placeholder.toLowerCase()} or ${setting.env}`,
          key,
        ),
      );
      continue;
    }
    const format = FORMATS[setting.format];
    try {
      format.validate(value);
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      const got = format.echo && setting.sensitive !== true ? `, got ${echo(value)}` : '';
      problems.push(
        new ConfigError(`invalid setting "${key}" from ${sourceOf(key)}: ${problem}${got}`, key),
      );
    }
  }
  return problems;
}

/**
 * Builds the validated configuration from defaults, the --config file, env and flags. Throws
 * ConfigError (code RBUDDY_ERR_CONFIG) with one line naming the setting; several problems with
 * values are joined with "; " so that they can be fixed in one go.
 */
export function loadConfig(options: LoadConfigOptions): RbuddyConfig {
  const { env } = options;
  const args = parseArgs(options.argv);
  if (args.error !== undefined) throw args.error;

  // args: [] keeps convict away from process.argv (an empty array is truthy in its `||`).
  const store = convict<Settings>(SETTINGS, { env, args: [] });

  const file = locateConfigFile(args.values.get('config'), env);
  let fileKeys = new Set<string>();
  if (file !== undefined) {
    const data = readConfigFile(file);
    fileKeys = new Set(Object.keys(data));
    // load() overlays the file, then re-applies the environment on top: file < env.
    store.load(data);
  }
  for (const [key, value] of args.values) {
    store.set(key, value);
  }

  const sourceOf = (key: SettingKey): string => {
    const setting = SETTINGS[key];
    if (args.values.has(key)) return `--${setting.arg}`;
    if (env[setting.env] !== undefined) return setting.env;
    if (fileKeys.has(key)) return `config file ${file?.path ?? ''}`;
    return 'the default';
  };

  const unchecked: Readonly<Record<SettingKey, unknown>> = store.getProperties();
  const problems = checkValues(unchecked, sourceOf);
  const first = problems[0];
  if (first !== undefined) {
    if (problems.length === 1) throw first;
    throw new ConfigError(problems.map((p) => p.message).join('; '), first.key);
  }

  // Backstop: convict's own checks (strict: undeclared keys). Everything it checks was checked
  // above, so this only fires on a bug here; keep its first line, which names the key.
  try {
    store.validate({ allowed: 'strict', output: () => undefined });
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
    throw new ConfigError(`invalid configuration: ${message}`, undefined, { cause: error });
  }

  // Every value has passed its format's check above, so convict's typing now holds.
  const settings = store.getProperties();
  checkReplicaCredentials(settings);
  checkTlsSettings(settings);
  checkEtcdSettings(settings);
  const listener = settings.tlsListen ?? settings.listen;
  // checkTlsSettings refuses a configuration without any RESP listener first.
  if (listener === null) throw new ConfigError('no RESP listener', 'listen');
  const config: RbuddyConfig & { config?: string } = {
    ...settings,
    announce: settings.announce ?? loopbackFor(listener),
  };
  if (config.etcd.length > 0 && config.announce.port === 0) {
    // The instance registers its announce in etcd: the others and the replicas dial it.
    throw new ConfigError(
      'invalid setting "announce" (--announce): --etcd needs a fixed port, each instance\'s address in the group (give --announce, or a --listen port other than 0)',
      'announce',
    );
  }
  if (['0.0.0.0', '::'].includes(config.announce.host)) {
    // REPLICAOF 0.0.0.0 reaches whatever listens on the replica's own host (Linux), and an
    // instance of a group registers it for the others: never an address to hand out.
    throw new ConfigError(
      `invalid setting "announce" (--announce): ${formatHostPort(config.announce)} is a wildcard, not an address the replicas can reach this rbuddy at; give this host's address (or leave --announce out: a wildcard --listen then announces loopback)`,
      'announce',
    );
  }
  const clash = (['master', 'active', 'standby'] as const).find(
    (key) =>
      formatHostPort(config[key]).toLowerCase() === formatHostPort(config.announce).toLowerCase(),
  );
  if (clash !== undefined) {
    // The replicas are told to REPLICAOF the announce: pointed at a node instead of rbuddy, the
    // active would sync from it directly, past every check of rbuddy's (a master restarted empty
    // would empty it).
    throw new ConfigError(
      `invalid setting "announce" (--announce): ${formatHostPort(config.announce)} is the --${clash} address; --announce is this rbuddy's own address, the one its replicas REPLICAOF`,
      'announce',
    );
  }
  // The file path was only needed to load the file; the rest of the program never sees it.
  delete config.config;
  return config;
}
