// The configuration contract (docs/configuration.md): defaults, precedence file < env < flags,
// and one clear ConfigError naming the setting for every bad input, without ever quoting a secret.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isHelpRequested } from '../../src/config/argv.js';
import { formatHelp, schemaEntries } from '../../src/config/help.js';
import { loadConfig } from '../../src/config/load.js';
import { redactedConfig } from '../../src/config/redaction.js';
import type { RbuddyConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

const REQUIRED = ['--master', '10.0.0.2:6379', '--active', '10.0.0.5:6379', '--standby', 'sb:6380'];
const SECRET = 'hunter2-do-not-print';

const dir = mkdtempSync(join(tmpdir(), 'rbuddy-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeConfig(contents: unknown): string {
  fileCount += 1;
  const path = join(dir, `config-${fileCount}.json`);
  writeFileSync(path, typeof contents === 'string' ? contents : JSON.stringify(contents));
  return path;
}

function load(argv: string[], env: Record<string, string> = {}): RbuddyConfig {
  return loadConfig({ argv, env });
}

/** Asserts loadConfig fails with a one-line ConfigError naming `names` and returns it. */
function rejects(
  argv: string[],
  env: Record<string, string>,
  ...names: string[]
): ConfigError & { message: string } {
  let caught: unknown;
  try {
    load(argv, env);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'RBUDDY_ERR_CONFIG');
  assert.doesNotMatch(caught.message, /\n/, 'the message is one line');
  for (const name of names) assert.ok(caught.message.includes(name), caught.message);
  return caught;
}

describe('defaults', () => {
  it('fills every optional setting with its documented default', () => {
    const config = load(REQUIRED);
    assert.deepEqual(config, {
      master: { host: '10.0.0.2', port: 6379 },
      masterUser: '',
      masterPassword: '',
      active: { host: '10.0.0.5', port: 6379 },
      standby: { host: 'sb', port: 6380 },
      replicaUser: '',
      replicaPassword: '',
      listen: { host: '0.0.0.0', port: 6382 },
      listenPassword: '',
      protectedMode: true,
      maxClients: 1_000,
      authTimeoutMs: 10_000,
      // Wildcard listen: announce the loopback of the same family with the listen port.
      announce: { host: '127.0.0.1', port: 6382 },
      http: { host: '127.0.0.1', port: 9999 },
      httpToken: '',
      httpAuthReads: false,
      httpAllowedHosts: [],
      httpMaxConnections: 64,
      httpRequestTimeoutMs: 10_000,
      stateDir: './rbuddy-state',
      graceMs: 10_000,
      probeIntervalMs: 1_000,
      probeTimeoutMs: 1_000,
      probeFailures: 3,
      drainMs: 5_000,
      syncTimeoutMs: 3_600_000,
      guardEmpty: 'hold',
      guardShrink: 0.5,
      initFlushStandby: false,
      replicaCredentials: [],
      webhook: [],
      webhookSecret: '',
      webhookTimeoutMs: 10_000,
      publish: ['replicas'],
      channel: 'rbuddy:events',
      group: 'rbuddy',
      logLevel: 'info',
      replTimeoutMs: 60_000,
      connectTimeoutMs: 5_000,
      commandTimeoutMs: 5_000,
      tlsListen: null,
      tlsCertFile: '',
      tlsKeyFile: '',
      tlsCaCertFile: '',
      tlsAuthClients: 'yes',
      activeTlsIdentity: [],
      standbyTlsIdentity: [],
      masterTls: false,
      masterTlsCaCertFile: '',
      masterTlsCertFile: '',
      masterTlsKeyFile: '',
      masterTlsServername: '',
      replicaTls: false,
      replicaTlsCaCertFile: '',
      replicaTlsCertFile: '',
      replicaTlsKeyFile: '',
      httpTlsCertFile: '',
      httpTlsKeyFile: '',
    } satisfies RbuddyConfig);
  });

  it('announces the listen address when it is not a wildcard, and [::1] for [::]', () => {
    assert.deepEqual(load([...REQUIRED, '--listen', '10.1.2.3:7000']).announce, {
      host: '10.1.2.3',
      port: 7000,
    });
    assert.deepEqual(load([...REQUIRED, '--listen', '[::]:7000']).announce, {
      host: '::1',
      port: 7000,
    });
    assert.deepEqual(load([...REQUIRED, '--announce', 'proxy.internal:6382']).announce, {
      host: 'proxy.internal',
      port: 6382,
    });
  });

  it('parses IPv6 host:port, port 0 on listeners, and every setting from env', () => {
    const config = load([], {
      RBUDDY_MASTER: '[::1]:6379',
      RBUDDY_ACTIVE: 'a:1',
      RBUDDY_STANDBY: 'b:65535',
      RBUDDY_LISTEN: '127.0.0.1:0',
      RBUDDY_HTTP: '[::1]:0',
      RBUDDY_INIT_FLUSH_STANDBY: 'true',
      RBUDDY_HTTP_AUTH_READS: '1',
      RBUDDY_WEBHOOK: 'https://a.example/h, http://b.example:8080/x',
      RBUDDY_PUBLISH: 'replicas,rediss://events.example:6380',
      RBUDDY_GUARD_EMPTY: 'switch',
      RBUDDY_LOG_LEVEL: 'debug',
    });
    assert.deepEqual(config.master, { host: '::1', port: 6379 });
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 0 });
    assert.deepEqual(config.http, { host: '::1', port: 0 });
    assert.equal(config.initFlushStandby, true);
    assert.equal(config.httpAuthReads, true);
    assert.deepEqual(config.webhook, ['https://a.example/h', 'http://b.example:8080/x']);
    assert.deepEqual(config.publish, ['replicas', 'rediss://events.example:6380']);
    assert.equal(config.guardEmpty, 'switch');
    assert.equal(config.logLevel, 'debug');
  });

  it('loads config/example.json without errors', () => {
    const config = load(['--config', 'config/example.json']);
    assert.equal(config.group, 'cache-eu1');
    assert.equal(config.masterPassword, '', 'the example holds no secret');
  });
});

describe('boolean flags', () => {
  it('accept --flag and --flag=true|false', () => {
    assert.equal(load([...REQUIRED, '--init-flush-standby']).initFlushStandby, true);
    assert.equal(load([...REQUIRED, '--init-flush-standby=true']).initFlushStandby, true);
    const off = load([...REQUIRED, '--init-flush-standby=false'], {
      RBUDDY_INIT_FLUSH_STANDBY: 'true',
    });
    assert.equal(off.initFlushStandby, false, 'the flag overrides env');
    assert.equal(load([...REQUIRED, '--http-auth-reads']).httpAuthReads, true);
  });

  it('reject a bare word after the flag and a value that is not a boolean', () => {
    rejects([...REQUIRED, '--init-flush-standby', 'false'], {}, '--init-flush-standby=false');
    rejects([...REQUIRED, '--init-flush-standby=flase'], {}, 'initFlushStandby', 'true or false');
    rejects(REQUIRED, { RBUDDY_HTTP_AUTH_READS: 'maybe' }, 'httpAuthReads');
  });
});

describe('--protected-mode yes|no, as Redis spells it', () => {
  it('takes yes or no as its value, from a flag, env or file', () => {
    assert.equal(load([...REQUIRED, '--protected-mode', 'no']).protectedMode, false);
    assert.equal(load([...REQUIRED, '--protected-mode=yes']).protectedMode, true);
    assert.equal(load(REQUIRED, { RBUDDY_PROTECTED_MODE: 'no' }).protectedMode, false);
    const file = writeConfig({
      master: 'a:1',
      active: 'b:2',
      standby: 'c:3',
      protectedMode: false,
    });
    assert.equal(load(['--config', file]).protectedMode, false);
  });

  it('rejects anything else, and a missing value, naming the setting', () => {
    rejects([...REQUIRED, '--protected-mode', 'maybe'], {}, 'protectedMode', 'yes or no');
    rejects([...REQUIRED, '--protected-mode'], {}, '--protected-mode yes|no');
  });

  it('--max-clients and --auth-timeout-ms are positive whole numbers', () => {
    const config = load([...REQUIRED, '--max-clients', '5', '--auth-timeout-ms', '250']);
    assert.equal(config.maxClients, 5);
    assert.equal(config.authTimeoutMs, 250);
    rejects([...REQUIRED, '--max-clients', '0'], {}, 'maxClients');
    rejects([...REQUIRED, '--auth-timeout-ms', '0'], {}, 'authTimeoutMs');
  });
});

describe('precedence: defaults < file < env < flags', () => {
  it('takes each setting from the strongest source that gives it', () => {
    const file = writeConfig({
      master: 'file-master:6379',
      active: 'file-active:6379',
      standby: 'file-standby:6379',
      graceMs: 1_111,
      drainMs: 2_222,
      probeFailures: 7,
      group: 'from-file',
    });
    const config = load(['--config', file, '--grace-ms', '3333', '--group', 'from-flag'], {
      RBUDDY_GRACE_MS: '4444',
      RBUDDY_DRAIN_MS: '5555',
      RBUDDY_GROUP: 'from-env',
    });
    assert.deepEqual(config.master, { host: 'file-master', port: 6379 });
    assert.equal(config.probeFailures, 7, 'file beats default');
    assert.equal(config.drainMs, 5_555, 'env beats file');
    assert.equal(config.graceMs, 3_333, 'flag beats env and file');
    assert.equal(config.group, 'from-flag');
    assert.equal(config.channel, 'rbuddy:events', 'default when nobody gives it');
  });

  it('finds the file through RBUDDY_CONFIG, and --config wins over it', () => {
    const a = writeConfig({ master: 'a:1', active: 'b:2', standby: 'c:3', group: 'a' });
    const b = writeConfig({ master: 'a:1', active: 'b:2', standby: 'c:3', group: 'b' });
    assert.equal(load([], { RBUDDY_CONFIG: a }).group, 'a');
    assert.equal(load(['--config', b], { RBUDDY_CONFIG: a }).group, 'b');
  });

  it('keeps strings from flags as given (no numeric coercion) and accumulates list flags', () => {
    const config = load([
      ...REQUIRED,
      '--group=0x1F',
      '--channel',
      '1.50',
      '--webhook',
      'https://a.example/1',
      '--webhook=https://b.example/2',
    ]);
    assert.equal(config.group, '0x1F');
    assert.equal(config.channel, '1.50');
    assert.deepEqual(config.webhook, ['https://a.example/1', 'https://b.example/2']);
  });
});

describe('bad input: one ConfigError naming the setting', () => {
  it('missing --master names the flag and the env var', () => {
    const error = rejects(['--active', 'a:1', '--standby', 'b:2'], {}, '"master"', '--master');
    assert.equal(error.key, 'master');
    assert.match(error.message, /RBUDDY_MASTER/);
  });

  for (const bad of ['nohost', 'h:0', 'h:99999', 'h:abc', ':6379', '::1:6379', '[::1]6379']) {
    it(`rejects host:port ${JSON.stringify(bad)}`, () => {
      const error = rejects([...REQUIRED, '--master', bad], {}, '"master"', '--master');
      assert.equal(error.key, 'master');
    });
  }

  it('names the env var when the bad value came from it', () => {
    const error = rejects(['--master', 'm:1', '--standby', 's:1'], { RBUDDY_ACTIVE: 'x' });
    assert.match(error.message, /"active" from RBUDDY_ACTIVE/);
  });

  it('rejects an unknown key in the config file, suggesting the right one', () => {
    const path = writeConfig({ master: 'a:1', active: 'b:2', standby: 'c:3', 'grace-ms': 5 });
    const error = rejects(['--config', path], {}, 'grace-ms', path, '"graceMs"');
    assert.equal(error.key, 'grace-ms');
  });

  it('rejects "config" inside a config file', () => {
    const path = writeConfig({ config: '/etc/other.json' });
    rejects(['--config', path], {}, '"config"');
  });

  it('rejects a config file value of the wrong JSON type', () => {
    const path = writeConfig({ master: { host: 'a', port: 1 } });
    rejects([...REQUIRED, '--config', path], {}, '"master"', 'string');
  });

  it('rejects an unknown flag, suggesting the right one', () => {
    const error = rejects([...REQUIRED, '--grace', '5'], {}, '--grace', '--grace-ms');
    assert.equal(error.key, '--grace');
    rejects([...REQUIRED, '-x'], {}, '-x');
    rejects([...REQUIRED, 'stray'], {}, '"stray"');
  });

  it('rejects a flag without its value', () => {
    rejects([...REQUIRED, '--grace-ms'], {}, '--grace-ms', 'needs a value');
    rejects(['--master', '--active', 'a:1', '--standby', 'b:2'], {}, '--master', 'needs a value');
  });

  it('rejects negative, fractional, zero and oversized timeouts', () => {
    rejects([...REQUIRED, '--grace-ms', '-5'], {}, '"graceMs"', 'negative');
    rejects([...REQUIRED, '--probe-timeout-ms=-1'], {}, '"probeTimeoutMs"', 'negative');
    rejects([...REQUIRED, '--sync-timeout-ms', '1.5'], {}, '"syncTimeoutMs"');
    rejects([...REQUIRED, '--connect-timeout-ms', '0'], {}, '"connectTimeoutMs"', 'at least 1');
    rejects([...REQUIRED, '--drain-ms', '2147483648'], {}, '"drainMs"', 'at most');
    const path = writeConfig({ replTimeoutMs: -100 });
    rejects([...REQUIRED, '--config', path], {}, '"replTimeoutMs"', path);
    // Zero is a valid grace period and drain time.
    assert.equal(load([...REQUIRED, '--grace-ms', '0', '--drain-ms', '0']).graceMs, 0);
  });

  it('rejects a bad --guard-empty and --log-level', () => {
    rejects([...REQUIRED, '--guard-empty', 'maybe'], {}, '"guardEmpty"', 'hold, switch');
    rejects([...REQUIRED, '--log-level', 'loud'], {}, '"logLevel"');
  });

  it('--guard-shrink: a ratio from 0 to 1, from flags, env and file', () => {
    assert.equal(load([...REQUIRED, '--guard-shrink', '0.25']).guardShrink, 0.25);
    assert.equal(load([...REQUIRED, '--guard-shrink=0']).guardShrink, 0);
    assert.equal(load([...REQUIRED, '--guard-shrink', '1']).guardShrink, 1);
    assert.equal(load(REQUIRED, { RBUDDY_GUARD_SHRINK: '.9' }).guardShrink, 0.9);
    assert.equal(
      load([...REQUIRED, '--config', writeConfig({ guardShrink: 0.75 })]).guardShrink,
      0.75,
    );
    rejects([...REQUIRED, '--guard-shrink', '1.5'], {}, '"guardShrink"', 'from 0 to 1');
    rejects([...REQUIRED, '--guard-shrink', '-0.1'], {}, '"guardShrink"');
    rejects([...REQUIRED, '--guard-shrink', 'half'], {}, '"guardShrink"', 'from 0 to 1');
    rejects([...REQUIRED, '--guard-shrink', '50%'], {}, '"guardShrink"');
    rejects([...REQUIRED, '--config', writeConfig({ guardShrink: 2 })], {}, '"guardShrink"');
  });

  it('rejects a bad webhook URL', () => {
    rejects([...REQUIRED, '--webhook', 'ftp://example.com/x'], {}, '"webhook"', 'http');
    rejects([...REQUIRED, '--webhook', 'https://ok.example/a,not a url'], {}, '"webhook"');
  });

  it('reads --http-allowed-hosts as a list of names and rejects a port, scheme or path', () => {
    assert.deepEqual(
      load([
        ...REQUIRED,
        '--http-allowed-hosts',
        'rbuddy.internal, 10.0.0.9',
        '--http-allowed-hosts=[fd00::1]',
      ]).httpAllowedHosts,
      ['rbuddy.internal', '10.0.0.9', '[fd00::1]'],
    );
    assert.deepEqual(
      load(REQUIRED, { RBUDDY_HTTP_ALLOWED_HOSTS: 'a.example,b.example' }).httpAllowedHosts,
      ['a.example', 'b.example'],
    );
    for (const bad of ['rbuddy.internal:9999', 'http://rbuddy.internal', 'a.example/x', 'a b']) {
      rejects([...REQUIRED, '--http-allowed-hosts', bad], {}, '"httpAllowedHosts"');
    }
    rejects([...REQUIRED, '--http-max-connections', '0'], {}, '"httpMaxConnections"');
    rejects([...REQUIRED, '--http-request-timeout-ms', '0'], {}, '"httpRequestTimeoutMs"');
  });

  it('reads --replica-credentials and rejects malformed, unknown-replica and shared-user entries', () => {
    const config = load([
      ...REQUIRED,
      '--replica-credentials',
      'rep-a:p:w@10.0.0.5:6379,rep-b:pw@sb:6380',
    ]);
    assert.deepEqual(config.replicaCredentials, ['rep-a:p:w@10.0.0.5:6379', 'rep-b:pw@sb:6380']);
    for (const bad of ['rep-a@10.0.0.5:6379', 'rep-a:pw', ':pw@10.0.0.5:6379', 'a:@sb:6380']) {
      const error = rejects(
        [...REQUIRED, '--replica-credentials', bad],
        {},
        '"replicaCredentials"',
      );
      assert.ok(!error.message.includes('pw'), 'the value is never quoted back');
    }
    rejects(
      [...REQUIRED, '--replica-credentials', 'rep-a:pw@10.0.0.9:6379'],
      {},
      '"replicaCredentials"',
      'neither --active nor --standby',
    );
    rejects(
      [...REQUIRED, '--replica-credentials', 'rep:pw@10.0.0.5:6379,rep:pw2@sb:6380'],
      {},
      '"replicaCredentials"',
      'a user of its own',
    );
  });

  it('rejects a bad publish target', () => {
    rejects([...REQUIRED, '--publish', 'everywhere'], {}, '"publish"');
    rejects([...REQUIRED, '--publish', 'http://x:6379'], {}, '"publish"');
    rejects([...REQUIRED, '--publish', 'none,replicas'], {}, '"publish"', 'none');
    rejects([...REQUIRED, '--publish='], {}, '"publish"');
  });

  it('rejects a malformed JSON file with the file and position, without quoting it', () => {
    const path = writeConfig(`{\n  "masterPassword": ${SECRET}\n}`);
    const error = rejects([...REQUIRED, '--config', path], {}, path, 'not valid JSON');
    assert.ok(!error.message.includes(SECRET), error.message);
    assert.ok(!error.message.includes('hunter2'), error.message);
    const truncated = writeConfig('{"group": "a",');
    rejects([...REQUIRED, '--config', truncated], {}, truncated, 'not valid JSON');
    rejects([...REQUIRED, '--config', writeConfig('[1, 2]')], {}, 'JSON object');
  });

  it('rejects a missing file', () => {
    const path = join(dir, 'does-not-exist.json');
    const error = rejects([...REQUIRED, '--config', path], {}, path, 'no such file');
    assert.equal(error.key, 'config');
    rejects(REQUIRED, { RBUDDY_CONFIG: path }, path, 'RBUDDY_CONFIG');
  });

  it('reports several bad values in one line', () => {
    const error = rejects([...REQUIRED, '--grace-ms', '-1', '--guard-empty', 'x'], {});
    assert.match(error.message, /"graceMs".*; .*"guardEmpty"/);
    assert.equal(error.key, 'graceMs');
  });
});

describe('secrets', () => {
  const secretEnv = {
    RBUDDY_MASTER_PASSWORD: SECRET,
    RBUDDY_REPLICA_PASSWORD: SECRET,
    RBUDDY_LISTEN_PASSWORD: SECRET,
    RBUDDY_HTTP_TOKEN: SECRET,
    RBUDDY_WEBHOOK_SECRET: `whsec_${SECRET}`,
  };

  it('never appear in error messages', () => {
    const badFile = writeConfig({ masterPassword: 12345, httpToken: SECRET });
    const cases: Array<[string[], Record<string, string>]> = [
      [[...REQUIRED, '--grace-ms', '-1'], secretEnv],
      [['--master-password', SECRET], secretEnv],
      [[...REQUIRED, '--config', badFile], secretEnv],
      [[...REQUIRED, '--publish', `redis://:${SECRET}@x:6379,bogus`], {}],
      [[...REQUIRED, '--publish', `nope://:${SECRET}@x:6379`], {}],
      [[...REQUIRED, '--webhook', `hooks.example.com/services/${SECRET}`], {}],
      [[...REQUIRED, '--webhook', `ftp://hooks.example.com/${SECRET}`], {}],
    ];
    for (const [argv, env] of cases) {
      const error = rejects(argv, env);
      assert.ok(!error.message.includes(SECRET), error.message);
    }
    const numeric = rejects([...REQUIRED, '--config', badFile], {}, '"masterPassword"');
    assert.ok(!numeric.message.includes('12345'), numeric.message);
  });

  it('are redacted in redactedConfig, and empty ones stay visibly empty', () => {
    const config = load(
      [
        ...REQUIRED,
        '--webhook',
        `https://hooks.example.com/services/${SECRET}?t=${SECRET}`,
        '--publish',
        `replicas,redis://user:${SECRET}@events.example:6379/0`,
      ],
      secretEnv,
    );
    assert.equal(config.masterPassword, SECRET, 'the loaded config keeps the real value');
    const redacted = redactedConfig(config);
    const text = JSON.stringify(redacted);
    assert.ok(!text.includes(SECRET), text);
    assert.ok(!text.includes('hunter2'), text);
    for (const key of ['masterPassword', 'replicaPassword', 'listenPassword', 'httpToken']) {
      assert.equal(redacted[key], '[redacted]', key);
    }
    assert.equal(redacted.webhookSecret, '[redacted]');
    assert.deepEqual(redacted.webhook, ['https://hooks.example.com/[redacted]']);
    assert.deepEqual(redacted.publish, [
      'replicas',
      'redis://user:[redacted]@events.example:6379/0',
    ]);
    assert.equal(redacted.master, '10.0.0.2:6379', 'addresses are logged as host:port');

    const plain = redactedConfig(load(REQUIRED));
    assert.equal(plain.masterPassword, '', 'no password configured is visible as such');
  });

  it('are exactly the settings marked sensitive in the schema', () => {
    const sensitive = schemaEntries()
      .filter((entry) => entry.sensitive)
      .map((entry) => entry.key)
      .sort();
    assert.deepEqual(sensitive, [
      'httpToken',
      'listenPassword',
      'masterPassword',
      'replicaCredentials',
      'replicaPassword',
      'webhookSecret',
    ]);
  });
});

describe('schema and help', () => {
  const entries = schemaEntries();

  it('covers every RbuddyConfig key, each flag and env var named after it', () => {
    const keys = new Set<string>(entries.map((entry) => entry.key));
    for (const key of Object.keys(load(REQUIRED))) assert.ok(keys.has(key), key);
    for (const entry of entries) {
      const kebab = entry.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      assert.equal(entry.flag, `--${kebab}`);
      assert.equal(entry.env, `RBUDDY_${kebab.replace(/-/g, '_').toUpperCase()}`);
      assert.ok(entry.doc.length > 20, `${entry.key} has a doc string`);
    }
    assert.deepEqual(
      entries.filter((entry) => entry.required).map((entry) => entry.key),
      ['master', 'active', 'standby'],
    );
  });

  it('formatHelp lists every flag and env var, and --help/-h', () => {
    const help = formatHelp();
    for (const entry of entries) {
      assert.ok(help.includes(entry.flag), entry.flag);
      assert.ok(help.includes(entry.env), entry.env);
    }
    assert.match(help, /-h, --help/);
    assert.match(help, /^Usage: rbuddy/);
  });

  it('isHelpRequested sees --help and -h, but not a value that looks like one', () => {
    assert.equal(isHelpRequested(['--help']), true);
    assert.equal(isHelpRequested(['--bogus', '-h']), true);
    assert.equal(isHelpRequested(['--master-password', '-h']), false);
    assert.equal(isHelpRequested(REQUIRED), false);
  });
});
