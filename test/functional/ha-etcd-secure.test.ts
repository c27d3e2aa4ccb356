// The etcd client built from the configuration against a real cluster that requires TLS with
// client certificates and etcd authentication: --etcd https://…, --etcd-tls-ca-cert-file,
// --etcd-tls-cert-file/--etcd-tls-key-file, --etcd-user/--etcd-password all reach etcd, and a
// wrong password is refused (never logged or echoed: the error names no secret).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { createTestPki, standardCerts, type TestPki } from '../../harness/tls-certs.js';
import { waitFor } from '../../harness/wait-for.js';
import type { EtcdConfig } from '../../src/config/types.js';
import { createEtcdClient } from '../../src/ha/etcd-client.js';
import { EtcdCoordination } from '../../src/ha/etcd-coordination.js';
import { steady } from '../helpers/decide-fixtures.js';
import { silent } from '../helpers/engine-harness.js';

const PASSWORD = 'etcd-root-secret-do-not-print';
let pki: TestPki;
let cluster: EtcdCluster;
let config: EtcdConfig;
const closers: (() => unknown)[] = [];

describe('etcd over TLS with client certificates and authentication', () => {
  before(async () => {
    pki = await createTestPki();
    const certs = await standardCerts(pki);
    cluster = await startEtcdCluster({
      tls: { ca: pki.ca.cert, server: certs.server, client: certs.replicaA },
    });
    config = {
      etcd: [...cluster.clientUrls],
      etcdLeaseMs: 4_000,
      etcdPrefix: '/secure',
      etcdUser: 'root',
      etcdPassword: PASSWORD,
      etcdTlsCaCertFile: pki.ca.cert,
      etcdTlsCertFile: certs.replicaA.cert,
      etcdTlsKeyFile: certs.replicaA.key,
      announceCheck: true,
    };
    // Turn authentication on, as an operator would with etcdctl.
    const admin = new Etcd3({
      hosts: [...cluster.clientUrls],
      credentials: {
        rootCertificate: readFileSync(pki.ca.cert),
        certChain: readFileSync(certs.replicaA.cert),
        privateKey: readFileSync(certs.replicaA.key),
      },
    });
    await admin.role('root').create();
    await admin.user('root').create(PASSWORD);
    await admin.user('root').addRole('root');
    await admin.auth.authEnable({});
    admin.close();
  });
  after(async () => {
    for (const close of closers) await close();
    await cluster.close();
    await pki.remove();
  });

  it('an instance with the configured TLS files and credentials leads and saves', async () => {
    const coordination = new EtcdCoordination({
      client: createEtcdClient(config, 1_000),
      ownsClient: true,
      self: { id: 'a', announce: '127.0.0.1:6382', http: '127.0.0.1:9999' },
      identity: { master: '127.0.0.1:6379', nodes: ['127.0.0.1:6380', '127.0.0.1:6381'] },
      prefix: config.etcdPrefix,
      group: 'g',
      leaseMs: config.etcdLeaseMs,
      logger: silent,
    });
    closers.push(() => coordination.close());
    await coordination.start();
    await waitFor(() => coordination.mayAct(), {
      what: 'the instance leads',
      explain: () => JSON.stringify(coordination.status()),
    });
    assert.equal((await coordination.store.load()).kind, 'missing');
    await coordination.store.save(steady());
    assert.equal((await coordination.store.load()).kind, 'ok');
  });

  it('a wrong password or no client certificate is refused', async () => {
    const wrong = createEtcdClient({ ...config, etcdPassword: 'not-it' }, 1_000);
    closers.push(() => wrong.close());
    await assert.rejects(wrong.get('/secure/g/leader').string(), (error: Error) => {
      assert.ok(!error.message.includes('not-it') && !error.message.includes(PASSWORD));
      return true;
    });
    const anonymous = createEtcdClient(
      { ...config, etcdTlsCertFile: '', etcdTlsKeyFile: '' },
      1_000,
    );
    closers.push(() => anonymous.close());
    await assert.rejects(anonymous.get('/secure/g/leader').string());
  });

  it('a wrong password is reported as an authentication failure, warned about once', async () => {
    const wrongPassword = 'wrong-etcd-pw-9';
    const lines: { level: number; msg: string; kind?: string }[] = [];
    const text: string[] = [];
    const logger = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          text.push(line);
          lines.push(JSON.parse(line) as { level: number; msg: string; kind?: string });
        },
      },
    );
    const coordination = new EtcdCoordination({
      client: createEtcdClient({ ...config, etcdPassword: wrongPassword }, 1_000),
      ownsClient: true,
      self: { id: 'w', announce: '127.0.0.1:6383', http: '127.0.0.1:9998' },
      identity: { master: '127.0.0.1:6379', nodes: ['127.0.0.1:6380', '127.0.0.1:6381'] },
      prefix: config.etcdPrefix,
      group: 'g',
      leaseMs: config.etcdLeaseMs,
      logger,
    });
    closers.push(() => coordination.close());
    await coordination.start();
    // On a loaded machine a round may also time out (kind `unreachable`, warned about once on
    // its own): the authentication failures are the ones counted.
    const failures = (): { level: number; msg: string }[] =>
      lines.filter((line) => line.msg.startsWith('etcd round failed') && line.kind === 'auth');
    // Several rounds have failed: only the first is a warning (pino level 40), the rest debug.
    await waitFor(() => failures().length >= 3, {
      what: 'three failed rounds',
      explain: () => JSON.stringify(coordination.status()),
    });
    assert.equal(failures().filter((line) => line.level >= 40).length, 1);
    const problem = coordination.status().problem ?? '';
    assert.match(problem, /^etcd authentication failed/);
    assert.match(problem, /--etcd-user/);
    assert.equal(coordination.mayAct(), false);
    for (const secret of [wrongPassword, PASSWORD]) {
      assert.ok(!problem.includes(secret));
      assert.ok(!text.join('').includes(secret));
    }
  });

  it('each member restarted in turn: every call is answered, the leader leads on', async () => {
    // A restarted member has forgotten the auth tokens; the client then authenticates again and
    // makes the call again from inside the call that member refused, which must not wait for
    // itself (it did with cockatiel's circuit breaker: the instance's calls hung for good).
    const coordination = new EtcdCoordination({
      client: createEtcdClient({ ...config, etcdLeaseMs: 5_000 }, 1_000),
      ownsClient: true,
      self: { id: 'r', announce: '127.0.0.1:6384', http: '127.0.0.1:9997' },
      prefix: config.etcdPrefix,
      group: 'restarts',
      identity: { master: '127.0.0.1:6379', nodes: ['127.0.0.1:6380', '127.0.0.1:6381'] },
      leaseMs: 5_000,
      logger: silent,
    });
    // Bounded: a round that hung would hold close() too.
    closers.push(() =>
      Promise.race([coordination.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]),
    );
    await coordination.start();
    await waitFor(() => coordination.mayAct(), { what: 'the instance leads' });
    const elected = coordination.status().takeovers;
    // Reads, one after another, each to a member picked at random, each bounded: one that hangs
    // fails the test.
    const reads = async (count: number, what: string): Promise<void> => {
      for (let read = 0; read < count; read += 1) {
        await Promise.race([
          coordination.store.load().catch(() => undefined),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error(`a read hung (${what})`)), 15_000),
          ),
        ]);
      }
    };
    for (let member = 0; member < cluster.members.length; member += 1) {
      await cluster.stop(member);
      await reads(10, `member ${member} stopped`);
      await cluster.start(member);
      await reads(30, `member ${member} restarted`);
    }
    assert.equal(coordination.mayAct(), true, JSON.stringify(coordination.status()));
    assert.equal(coordination.status().takeovers, elected, 'led throughout');
  });
});
