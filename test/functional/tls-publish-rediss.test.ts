// A `--publish rediss://…` target: events reach a TLS-only redis-server that requires a client
// certificate, verified against --replica-tls-ca-cert-file, rbuddy presenting the replica hop's
// certificate. (--replica-tls is on, so the replicas are TLS ones too.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startTlsRedis, stopAllTlsRedis, type TlsRedis } from '../helpers/redis-tls.js';
import { createTestPki, standardCerts, type TestPki } from '../helpers/tls-certs.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import type { RbuddyEvent } from '../../src/notify/events.js';

const CHANNEL = 'rbuddy-tls-events';
let pki: TestPki;
let master: RedisServer;
let target: TlsRedis;
let rbuddy: RbuddyUnderTest;

before(async () => {
  pki = await createTestPki();
  const certs = await standardCerts(pki);
  const rbuddyClient = await pki.ca.issue('rbuddy-client', { cn: 'rbuddy', usage: 'client' });
  const tlsServer = (name: string) =>
    startTlsRedis({ name, server: certs.server, ca: pki.ca.cert, authClients: 'yes' });
  [master, target] = await Promise.all([startRedis({ name: 'master' }), tlsServer('target')]);
  const replicas = await Promise.all([tlsServer('active'), tlsServer('standby')]);
  for (const replica of replicas) {
    // It syncs from rbuddy's plain listener: it announces the tls-port --active/--standby name.
    await replica.client().config('SET', 'replica-announce-port', String(replica.tlsPort));
  }
  const [active, standby] = replicas.map((replica) => `${replica.host}:${replica.tlsPort}`);
  rbuddy = await startRbuddy({
    master: master.address,
    active: active ?? '',
    standby: standby ?? '',
    args: [
      '--channel',
      CHANNEL,
      '--publish',
      `rediss://localhost:${target.tlsPort}`,
      '--replica-tls',
      'yes',
      '--replica-tls-ca-cert-file',
      pki.ca.cert,
      '--replica-tls-cert-file',
      rbuddyClient.cert,
      '--replica-tls-key-file',
      rbuddyClient.key,
      '--probe-interval-ms',
      '200',
      // No failover in this test: the master's loss is only announced.
      '--grace-ms',
      '600000',
    ],
  });
});

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
  await stopAllTlsRedis();
  await pki.remove();
});

test('an event reaches the rediss:// target', async () => {
  const received: RbuddyEvent[] = [];
  const subscriber = target.client();
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === CHANNEL) received.push(JSON.parse(message) as RbuddyEvent);
  });
  await subscriber.subscribe(CHANNEL);
  await waitFor(() => rbuddy.status().state === 'healthy', {
    what: 'rbuddy healthy',
    timeoutMs: 60_000,
  });
  await master.stop();
  const down = await waitFor(() => received.find((event) => event.type === 'master.down'), {
    what: 'master.down on the rediss:// target',
    timeoutMs: 60_000,
    explain: () => JSON.stringify(rbuddy.status().notifications.publish),
  });
  assert.equal(down.group, rbuddy.status().group);
  const [status] = rbuddy.status().notifications.publish;
  assert.equal(status?.target, `rediss://localhost:${target.tlsPort}`);
  assert.notEqual(status?.lastSuccess, null);
});
