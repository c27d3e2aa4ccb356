// The control connections to the replicas over TLS (--replica-tls): replicas reachable only on a
// tls-port that requires a client certificate, `--active`/`--standby` naming those ports. rbuddy
// reads and commands them (INFO, ROLE, REPLICAOF) and reaches healthy; with a CA that is not
// theirs it reports them unreachable, with the reason, and never healthy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startTlsRedis, stopAllTlsRedis, type TlsRedis } from '../helpers/redis-tls.js';
import {
  createTestPki,
  standardCerts,
  type CertFiles,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';

let pki: TestPki;
let certs: StandardCerts;
let rbuddyClient: CertFiles;
let master: RedisServer;

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
  rbuddyClient = await pki.ca.issue('rbuddy-client', { cn: 'rbuddy', usage: 'client' });
  master = await startRedis({ name: 'master' });
  await populate(master.client(), { megabytes: 2, dbs: [0] });
});

after(async () => {
  await stopAllRbuddy();
  await stopAllTlsRedis();
  await stopAllRedis();
  await pki.remove();
});

/**
 * A replica on a tls-port only. It replicates from rbuddy's plain listener (no tls-replication),
 * so it announces its tls-port explicitly: the port --active/--standby name.
 */
async function tlsReplica(name: string): Promise<TlsRedis> {
  const replica = await startTlsRedis({
    name,
    server: certs.server,
    ca: pki.ca.cert,
    authClients: 'yes',
  });
  await replica.client().config('SET', 'replica-announce-port', String(replica.tlsPort));
  return replica;
}

async function startWithTlsReplicas(ca: string): Promise<{
  rbuddy: RbuddyUnderTest;
  active: TlsRedis;
  standby: TlsRedis;
}> {
  const [active, standby] = await Promise.all([tlsReplica('active'), tlsReplica('standby')]);
  const rbuddy = await startRbuddy({
    master: master.address,
    active: `${active.host}:${active.tlsPort}`,
    standby: `${standby.host}:${standby.tlsPort}`,
    args: [
      '--replica-tls',
      'yes',
      '--replica-tls-ca-cert-file',
      ca,
      '--replica-tls-cert-file',
      rbuddyClient.cert,
      '--replica-tls-key-file',
      rbuddyClient.key,
    ],
  });
  return { rbuddy, active, standby };
}

describe('control connections to replicas over TLS', () => {
  test('rbuddy reads and commands the replicas and reaches healthy', async () => {
    const { rbuddy, active, standby } = await startWithTlsReplicas(pki.ca.cert);
    await waitFor(() => rbuddy.status().state === 'healthy', {
      what: 'rbuddy healthy',
      timeoutMs: 60_000,
      explain: () => JSON.stringify(rbuddy.status()),
    });
    await waitForInSync(master.client(), active.client());
    for (const replica of [active, standby]) {
      const clients = (await replica.client().call('CLIENT', 'LIST')) as string;
      assert.match(clients, /name=rbuddy-control/, `${replica.name}: rbuddy's control connection`);
    }
    const views = rbuddy.status().nodes;
    assert.equal(views.length, 2);
    for (const view of views) assert.equal(view.error, undefined, JSON.stringify(view));
    await rbuddy.close();
  });

  test('with a CA that is not theirs: unreachable with the reason, never healthy', async () => {
    const { rbuddy, active } = await startWithTlsReplicas(pki.otherCa.cert);
    const views = await waitFor(
      () => {
        const nodes = rbuddy.status().nodes;
        return nodes.length === 2 && nodes.every((view) => view.error !== undefined)
          ? nodes
          : undefined;
      },
      { what: 'both replicas reported unreachable', timeoutMs: 60_000 },
    );
    for (const view of views) {
      assert.equal(view.reachable, false);
      assert.match(view.error ?? '', /does not chain to the configured CA/);
    }
    assert.notEqual(rbuddy.status().state, 'healthy');
    const role = (await active.client().call('ROLE')) as unknown[];
    assert.equal(role[0], 'master', 'rbuddy never commanded the active');
    await rbuddy.close();
  });
});
