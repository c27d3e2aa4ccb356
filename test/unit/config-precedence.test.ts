// The configuration contract (docs/configuration.md): precedence, defaults < file < env < flags.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { load, REQUIRED, writeConfig } from '../helpers/config-fixtures.js';

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
