// The etcd settings (docs/configuration.md): the endpoints, the lease, the prefix, credentials
// and TLS; every bad value is one line naming the setting, and no secret is ever quoted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { load, rejects, REQUIRED, SECRET } from '../helpers/config-fixtures.js';

const ETCD = ['--etcd', 'http://10.0.0.7:2379,http://10.0.0.8:2379'];

describe('etcd settings', () => {
  it('reads endpoints, lease, prefix and credentials from flags and env', () => {
    const config = load([...REQUIRED, ...ETCD, '--etcd-lease-ms', '8000'], {
      RBUDDY_ETCD_PREFIX: '/prod/rbuddy',
      RBUDDY_ETCD_USER: 'rbuddy',
      RBUDDY_ETCD_PASSWORD: SECRET,
    });
    assert.deepEqual(config.etcd, ['http://10.0.0.7:2379', 'http://10.0.0.8:2379']);
    assert.equal(config.etcdLeaseMs, 8_000);
    assert.equal(config.etcdPrefix, '/prod/rbuddy');
    assert.equal(config.etcdUser, 'rbuddy');
    assert.equal(config.etcdPassword, SECRET);
  });

  it('refuses a group name that would reach into another key range or is not one word', () => {
    // `g1/members` would put its keys inside g1's `<prefix>/g1/members/` range in etcd.
    for (const bad of ['g1/members', '/g1', 'a b', '', '..', 'x'.repeat(65), 'caf\u00e9', 'g*']) {
      rejects([...REQUIRED, '--group', bad], {}, 'group', '--group');
    }
    for (const good of ['g1', 'my-cache_2', 'prod.eu-west', 'x'.repeat(64)]) {
      assert.equal(load([...REQUIRED, '--group', good]).group, good);
    }
  });

  it('--announce-check: yes by default; no only with --etcd; nothing else', () => {
    assert.equal(load([...REQUIRED, ...ETCD]).announceCheck, true);
    assert.equal(load([...REQUIRED, ...ETCD, '--announce-check', 'no']).announceCheck, false);
    assert.equal(
      load([...REQUIRED, ...ETCD], { RBUDDY_ANNOUNCE_CHECK: 'no' }).announceCheck,
      false,
    );
    rejects([...REQUIRED, '--announce-check', 'no'], {}, 'announceCheck', 'no --etcd');
    rejects([...REQUIRED, ...ETCD, '--announce-check', 'maybe'], {}, 'announceCheck', 'yes or no');
  });

  it('refuses a wildcard --announce: it is no address a replica can reach', () => {
    for (const wildcard of ['0.0.0.0:6380', '[::]:6380']) {
      rejects([...REQUIRED, '--announce', wildcard], {}, 'announce', 'wildcard');
      rejects([...REQUIRED, ...ETCD, '--announce', wildcard], {}, 'announce', 'wildcard');
    }
    // A wildcard --listen still announces loopback by default.
    assert.equal(load([...REQUIRED, '--listen', '0.0.0.0:6380']).announce.host, '127.0.0.1');
  });

  it('refuses --etcd with an announce port of 0: each instance registers its address', () => {
    rejects([...REQUIRED, ...ETCD, '--listen', '127.0.0.1:0'], {}, 'announce', 'fixed port');
    // Alone, port 0 is fine (tests bind any free port).
    assert.equal(load([...REQUIRED, '--listen', '127.0.0.1:0']).announce.port, 0);
  });

  it('refuses endpoints that are not http(s)://host:port, without quoting them', () => {
    for (const bad of [
      'etcd:2379',
      'grpc://10.0.0.7:2379',
      `http://root:${SECRET}@10.0.0.7:2379`,
      'http://10.0.0.7:2379/v3',
      'http://10.0.0.7',
    ]) {
      const error = rejects([...REQUIRED, '--etcd', bad], {}, 'etcd', '--etcd');
      assert.ok(!error.message.includes(SECRET), error.message);
      assert.ok(!error.message.includes(bad), error.message);
    }
    rejects([...REQUIRED, '--etcd', 'http://a:2379,https://b:2379'], {}, 'etcd', 'one scheme');
  });

  it('refuses a lease etcd would not keep as given: too short, too long, not whole seconds', () => {
    for (const bad of ['1000', '0', '-5000', '301000', '5500', 'five']) {
      rejects([...REQUIRED, ...ETCD, '--etcd-lease-ms', bad], {}, 'etcdLeaseMs');
    }
    assert.equal(load([...REQUIRED, ...ETCD, '--etcd-lease-ms', '2000']).etcdLeaseMs, 2_000);
    assert.equal(load([...REQUIRED, ...ETCD, '--etcd-lease-ms', '300000']).etcdLeaseMs, 300_000);
  });

  it('refuses a prefix that is not an absolute key path', () => {
    for (const bad of ['rbuddy', '/rbuddy/', '/', '/a//b', '/a b', '']) {
      rejects([...REQUIRED, ...ETCD, '--etcd-prefix', bad], {}, 'etcdPrefix');
    }
  });

  it('refuses etcd options without --etcd, and half a pair', () => {
    rejects([...REQUIRED, '--etcd-user', 'u'], {}, 'etcdUser', 'no --etcd');
    rejects([...REQUIRED], { RBUDDY_ETCD_PASSWORD: SECRET }, 'etcdPassword', 'no --etcd');
    rejects([...REQUIRED, ...ETCD, '--etcd-user', 'u'], {}, 'etcdPassword', 'required');
    const half = rejects([...REQUIRED, ...ETCD], { RBUDDY_ETCD_PASSWORD: SECRET }, 'etcdUser');
    assert.ok(!half.message.includes(SECRET));
    rejects(
      [...REQUIRED, ...ETCD, '--etcd-tls-ca-cert-file', '/etc/ca.pem'],
      {},
      'etcdTlsCaCertFile',
      'http://',
    );
    rejects(
      [...REQUIRED, '--etcd', 'https://e:2379', '--etcd-tls-cert-file', '/c.pem'],
      {},
      'etcdTlsKeyFile',
    );
    const tls = load([
      ...REQUIRED,
      '--etcd',
      'https://e:2379',
      '--etcd-tls-ca-cert-file',
      '/ca.pem',
      '--etcd-tls-cert-file',
      '/c.pem',
      '--etcd-tls-key-file',
      '/k.pem',
    ]);
    assert.equal(tls.etcdTlsKeyFile, '/k.pem');
  });
});
