// The configuration contract (docs/configuration.md): the defaults, boolean flags and --protected-
// mode as Redis spells it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RbuddyConfig } from '../../src/config/types.js';
import { load, rejects, REQUIRED, writeConfig } from '../helpers/config-fixtures.js';

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
      etcd: [],
      etcdLeaseMs: 5_000,
      etcdPrefix: '/rbuddy',
      etcdUser: '',
      etcdPassword: '',
      etcdTlsCaCertFile: '',
      etcdTlsCertFile: '',
      etcdTlsKeyFile: '',
      announceCheck: true,
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

  it('refuses an --announce that is the master, the active or the standby (the replicas REPLICAOF it)', () => {
    rejects([...REQUIRED, '--announce', '10.0.0.2:6379'], {}, 'announce', '--master');
    rejects([...REQUIRED, '--announce', '10.0.0.5:6379'], {}, 'announce', '--active');
    rejects([...REQUIRED, '--announce', 'SB:6380'], {}, 'announce', '--standby');
    // Another port on a node's host is fine: rbuddy may run beside a replica.
    assert.equal(load([...REQUIRED, '--announce', '10.0.0.5:6382']).announce.port, 6382);
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
