// The TLS settings: each hop's flags parse, --announce follows the TLS listener, and the mistakes
// an operator makes while setting TLS up (a file for a hop that is off, a certificate without its
// key, client certificates with no CA, no listener at all) are one ConfigError naming the setting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { RbuddyConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

const REQUIRED = ['--master', '10.0.0.2:6379', '--active', '10.0.0.5:6379', '--standby', 'sb:6380'];
const LISTENER = [
  '--tls-listen',
  '0.0.0.0:6383',
  '--tls-cert-file',
  'c.pem',
  '--tls-key-file',
  'k.pem',
];

function load(argv: string[], env: Record<string, string> = {}): RbuddyConfig {
  return loadConfig({ argv: [...REQUIRED, ...argv], env });
}

function refusedFor(key: string, argv: string[], env: Record<string, string> = {}): string {
  let caught: unknown;
  try {
    load(argv, env);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${key}`);
  assert.equal(caught.code, 'RBUDDY_ERR_CONFIG');
  assert.equal(caught.key, key);
  assert.ok(!caught.message.includes('\n'), caught.message);
  return caught.message;
}

describe('TLS settings', () => {
  it('are off by default, and a TLS listener parses with its files', () => {
    const plain = load([]);
    assert.equal(plain.tlsListen, null);
    assert.equal(plain.masterTls, false);
    assert.equal(plain.replicaTls, false);
    assert.equal(plain.tlsAuthClients, 'yes');
    const tls = load([...LISTENER, '--tls-auth-clients', 'no']);
    assert.deepEqual(tls.tlsListen, { host: '0.0.0.0', port: 6383 });
    assert.equal(tls.tlsCertFile, 'c.pem');
  });

  it('--announce defaults to the TLS listener, and --listen none leaves only it', () => {
    const both = load([...LISTENER, '--tls-auth-clients', 'no', '--listen', '10.0.0.9:6382']);
    assert.deepEqual(both.announce, { host: '127.0.0.1', port: 6383 });
    const only = load([...LISTENER, '--tls-auth-clients', 'no', '--listen', 'none']);
    assert.equal(only.listen, null);
    const fromEnv = load([...LISTENER, '--tls-auth-clients', 'no'], { RBUDDY_LISTEN: 'NONE' });
    assert.equal(fromEnv.listen, null);
  });

  it('refuses --listen none without a TLS listener', () => {
    assert.match(refusedFor('listen', ['--listen', 'none']), /no RESP listener/);
  });

  it('refuses a TLS listener without its certificate, key, or (with client certificates) CA', () => {
    refusedFor('tlsCertFile', ['--tls-listen', '127.0.0.1:0', '--tls-key-file', 'k.pem']);
    refusedFor('tlsKeyFile', ['--tls-listen', '127.0.0.1:0', '--tls-cert-file', 'c.pem']);
    assert.match(refusedFor('tlsCaCertFile', LISTENER), /--tls-auth-clients yes/);
    refusedFor('tlsCaCertFile', [...LISTENER, '--tls-auth-clients', 'optional']);
    assert.equal(load([...LISTENER, '--tls-ca-cert-file', 'ca.pem']).tlsCaCertFile, 'ca.pem');
  });

  it('refuses files for a hop that is not on', () => {
    refusedFor('tlsCertFile', ['--tls-cert-file', 'c.pem']);
    refusedFor('masterTlsCaCertFile', ['--master-tls-ca-cert-file', 'ca.pem']);
    refusedFor('masterTlsServername', ['--master-tls-servername', 'master.example']);
    refusedFor('replicaTlsCertFile', ['--replica-tls-cert-file', 'c.pem']);
  });

  it('refuses a client certificate without its key, and the other way round', () => {
    refusedFor('masterTlsKeyFile', ['--master-tls', 'yes', '--master-tls-cert-file', 'c.pem']);
    refusedFor('masterTlsCertFile', ['--master-tls', 'yes', '--master-tls-key-file', 'k.pem']);
    refusedFor('replicaTlsKeyFile', ['--replica-tls', 'yes', '--replica-tls-cert-file', 'c.pem']);
    refusedFor('httpTlsKeyFile', ['--http-tls-cert-file', 'c.pem']);
    refusedFor('httpTlsCertFile', ['--http-tls-key-file', 'k.pem']);
    const ok = load([
      '--master-tls',
      'yes',
      '--master-tls-cert-file',
      'c',
      '--master-tls-key-file',
      'k',
    ]);
    assert.equal(ok.masterTls, true);
  });

  it('parses identity patterns, and refuses bad ones or ones nothing can check', () => {
    const config = load([
      ...LISTENER,
      '--tls-ca-cert-file',
      'ca.pem',
      '--active-tls-identity',
      'dns:replica-a.example,ip:10.0.0.0/8',
      '--standby-tls-identity',
      'uri:spiffe://example/standby',
    ]);
    assert.deepEqual(config.activeTlsIdentity, ['dns:replica-a.example', 'ip:10.0.0.0/8']);
    refusedFor('activeTlsIdentity', [
      ...LISTENER,
      '--tls-ca-cert-file',
      'ca.pem',
      '--active-tls-identity',
      'host:replica-a',
    ]);
    refusedFor('standbyTlsIdentity', ['--standby-tls-identity', 'dns:b.example']);
    refusedFor('activeTlsIdentity', [
      ...LISTENER,
      '--tls-auth-clients',
      'no',
      '--active-tls-identity',
      'dns:a.example',
    ]);
  });

  it('refuses an unknown --tls-auth-clients value', () => {
    refusedFor('tlsAuthClients', [...LISTENER, '--tls-auth-clients', 'maybe']);
  });
});
