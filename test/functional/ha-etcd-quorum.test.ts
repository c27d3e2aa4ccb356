// etcd loses its quorum under a group of two rbuddy instances (docs/ha.md, "Failure modes"):
// both report `degraded` with the reason and nothing destructive happens to the nodes; a lease on,
// neither names the active (GET /active 503: neither can tell etcd down from itself cut off, and
// a view that may be stale names nothing) while the active itself goes on serving; once the quorum
// is back, one instance leads again, both are healthy and name the active, and no full sync was
// needed; etcd's history shows every write of the group's state made under the leader of its
// revision.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertStateWritesUnderLeader } from '../helpers/etcd-state-history.js';
import { flushallCalls, startHaRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
let rig: HaRig | undefined;

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await stopAllReaders();
  await rig?.close();
  await stopAllRedis();
  await cluster.close();
});

test('quorum lost: both instances degraded, nothing destructive; quorum back: healthy again', async () => {
  rig = await startHaRig(cluster);
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch;
  const master = rig.master.client();
  const stats = await masterStats(master);
  // Sent nowhere while rbuddy cannot tell (503) is not a failed read; a wrong node would be.
  const reader = startReader({
    httpUrl: follower.httpUrl,
    key: 'ha:key',
    expected: 'value',
    unknownIsNoRead: true,
  });

  await cluster.stop(1);
  await cluster.stop(2);
  for (const rbuddy of [leader, follower]) {
    const degraded = await rig.waitFor(rbuddy, 'degraded without a quorum', (s) => {
      return s.state === 'degraded' && s.leader === false;
    });
    assert.ok(degraded.reason !== null && degraded.reason !== '', 'the reason is given');
  }
  for (const rbuddy of [leader, follower]) {
    const status = await waitFor(
      async () => {
        const response = await fetch(`${rbuddy.httpUrl}/active`, {
          signal: AbortSignal.timeout(2_000),
        });
        const body = await response.text();
        return response.status === 503 ? body : undefined;
      },
      { what: 'GET /active unknown a lease without etcd' },
    );
    assert.match(status, /older than the lease/);
  }
  // The active still serves (its session through the old leader may go on relaying).
  assert.equal((await info(rig.active.client(), 'replication')).role, 'slave');
  assert.equal(await rig.active.client().get('ha:key'), 'value');

  await cluster.start(1);
  await cluster.start(2);
  const back = await rig.leader();
  const healthy = await rig.waitFor(back.leader, 'the new leader healthy', (s) => {
    return s.state === 'healthy';
  });
  await rig.waitFor(back.follower, 'the follower healthy', (s) => s.state === 'healthy');
  await master.set('ha:after-quorum', 'yes');
  await waitForInSync(master, rig.active.client());
  assert.equal(healthy.epoch, epoch, 'no failover');
  assert.equal(healthy.active, rig.active.address);
  assert.equal((await masterStats(master)).syncFull, stats.syncFull, 'no full sync');
  assert.equal(await flushallCalls(rig.active.client()), 0);
  assert.equal(await flushallCalls(rig.standby.client()), 0);
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads through the follower again' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.equal((await info(rig.standby.client(), 'replication')).role, 'slave');
  await assertStateWritesUnderLeader(cluster, rig.keys);
});
