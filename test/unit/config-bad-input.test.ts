// The configuration contract (docs/configuration.md): one clear ConfigError naming the setting for
// every bad input.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dir, load, rejects, REQUIRED, SECRET, writeConfig } from '../helpers/config-fixtures.js';

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
