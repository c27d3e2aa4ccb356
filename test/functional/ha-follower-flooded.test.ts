// A stranger fills a follower's RESP listener to --max-clients, then the leader dies (reviewer
// round 5, F1). Two rbuddy CLI processes on a real 3-member etcd cluster, real redis-servers on
// their own loopback address (127.0.0.2), so that the instances' self-check of their --announce
// (from 127.0.0.1) gets no replica's place past the limit, as between hosts. Before, the flooded
// follower's check could not complete ("refuses connections at a limit of its own"): it counted
// that as no verdict, stopped campaigning, answered /readyz 503, and once the leader was killed
// no instance led for as long as the flood lasted. Now a check with no evidence leaves the last
// conclusive one standing: the follower stays ready, and takes over within a lease.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { startHaRig, type HaRig } from '../helpers/ha-rig.js';

const MAX_CLIENTS = 40;
let cluster: EtcdCluster;
const rigs: HaRig[] = [];
const sockets: Socket[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
});

/** `count` connections from 127.0.0.1 that each send a valid first command and stay. */
async function flood(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    sockets.push(socket);
    await new Promise<void>((resolve) => {
      socket.once('connect', () => {
        socket.write('PING\r\n');
        resolve();
      });
      socket.once('error', () => resolve());
    });
  }
}

test('a follower whose listener a stranger holds at --max-clients stays ready and takes over when the leader dies', async () => {
  const rig = await startHaRig(cluster, {
    replicaHost: '127.0.0.2',
    extra: ['--max-clients', String(MAX_CLIENTS)],
  });
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  await rig.waitFor(follower, 'the follower to verify its --announce', (s) => {
    return s.state === 'healthy' && s.announceCheck?.state === 'verified';
  });
  const before = await masterStats(rig.master.client());

  await flood(follower.resp.port, MAX_CLIENTS + 10);
  const flooded = await rig.waitFor(follower, 'a self-check under the flood', (s) =>
    /max number of clients reached/.test(s.announceCheck?.detail ?? ''),
  );
  assert.equal(flooded.announceCheck?.state, 'verified', JSON.stringify(flooded.announceCheck));
  assert.equal(flooded.state, 'healthy', flooded.reason ?? '');
  const ready = await fetch(`${follower.httpUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(ready.status, 200, 'the flood does not make the follower unready');

  await rig.kill9(leader);
  const led = await rig.waitFor(follower, 'the flooded follower to lead', (s) => s.leader === true);
  assert.ok(
    sockets.filter((socket) => !socket.destroyed).length >= MAX_CLIENTS,
    'the flood still held the listener when it took over',
  );
  assert.equal(led.leader, true);

  // The active resumes through the new leader (it has a replica's place past the limit).
  await waitFor(
    async () => {
      const replication = await info(rig.active.client(), 'replication');
      return (
        replication.master_port === String(follower.resp.port) &&
        replication.master_link_status === 'up'
      );
    },
    { what: 'the active linked through the new leader', timeoutMs: 60_000 },
  );
  const after = await masterStats(rig.master.client());
  assert.equal(after.syncFull, before.syncFull, 'the takeover cost no full sync');
});
