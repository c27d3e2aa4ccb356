// The command line. Every setting is a long flag (`--grace-ms 500` or `--grace-ms=500`); -h and
// --help ask for the help text. Values are kept as strings here and applied with convict's
// set() by load.ts, so that a flag goes through the same coercion as the environment.

import { ConfigError } from '../errors.js';
import { placeholderOf, SETTING_KEYS, SETTINGS, type SettingKey } from './schema.js';
import type { Setting } from './setting.js';
import { suggest } from './suggest.js';

const KEY_BY_FLAG = new Map(SETTING_KEYS.map((key) => [SETTINGS[key].arg, key]));

interface ParsedArgs {
  help: boolean;
  /** Flag values as given (strings), keyed by setting. */
  values: Map<SettingKey, string>;
  /** The first problem; parsing goes on so that --help is still seen after a bad flag. */
  error: ConfigError | undefined;
}

/**
 * convict would hand argv to yargs-parser, which ignores unknown flags and turns `--group 0x1F`
 * into 31 and `--channel 1.50` into 1.5. We parse flags ourselves (strictly: every flag known,
 * every value present) and apply them with convict's set(), which runs the same coercion.
 *
 * `--flag value` and `--flag=value`; boolean flags are `--flag` or `--flag=true|false` (a bare
 * word after a boolean flag is an error, not its value). A value may start with "-" (`-5` must
 * reach the validator to be called negative), but not with "--". Repeated list flags
 * (--webhook, --publish, --http-allowed-hosts) accumulate; any other repeated flag keeps its
 * last value.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { help: false, values: new Map(), error: undefined };
  const fail = (message: string, key?: string): void => {
    parsed.error ??= new ConfigError(message, key);
  };
  for (let i = 0; i < argv.length; i += 1) {
    const token = argv[i] ?? '';
    if (token === '--help' || token === '-h') {
      parsed.help = true;
      continue;
    }
    if (!token.startsWith('--') || token === '--') {
      if (token.startsWith('-') && token.length > 1) {
        fail(`unknown option ${token} (options are long, e.g. --master; see --help)`, token);
      } else {
        fail(`unexpected argument ${JSON.stringify(token)} (every setting is a --flag)`);
      }
      continue;
    }
    const equals = token.indexOf('=');
    const name = equals === -1 ? token.slice(2) : token.slice(2, equals);
    const key = KEY_BY_FLAG.get(name);
    if (key === undefined) {
      const hint = suggest(name, [...KEY_BY_FLAG.keys()], (flag) => `--${flag}`);
      fail(`unknown option --${name}${hint}`, `--${name}`);
      continue;
    }
    const setting: Setting<unknown> = SETTINGS[key];
    let value: string;
    if (equals !== -1) {
      value = token.slice(equals + 1);
    } else if (setting.format === 'boolean-flag') {
      value = 'true';
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) {
        fail(
          `unexpected argument ${JSON.stringify(next)} after --${name} (write --${name}=false to turn it off)`,
          key,
        );
        i += 1;
      }
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        fail(`option --${name} needs a value: --${name} ${placeholderOf(setting)}`, key);
        continue;
      }
      value = next;
      i += 1;
    }
    const previous = parsed.values.get(key);
    const isList =
      setting.format === 'url-list' ||
      setting.format === 'host-list' ||
      setting.format === 'publish-targets';
    parsed.values.set(key, isList && previous !== undefined ? `${previous},${value}` : value);
  }
  return parsed;
}

/** Whether argv asks for --help / -h (even next to bad flags: help wins). */
export function isHelpRequested(argv: readonly string[]): boolean {
  return parseArgs(argv).help;
}
