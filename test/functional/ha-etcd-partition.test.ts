// The leader cut off from etcd but not from Redis (a blackholing forwarder in front of each etcd
// member, as that instance sees etcd; docs/ha.md, "Failure modes"): it stops acting before its
// lease can expire, the other instance takes over after it, the active continues through the new
// leader (+CONTINUE) with 0 failed reads, and at no time do both act: the old leader's log says it
// stopped before the new one's says it was elected. Healed, the old leader follows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { flushallCalls, followsPort, startHaRig, type HaRig } from '../helpers/ha-rig.js';

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

/** The time (ms) of the first log line of `rbuddy` with message `msg`. */
function loggedAt(lines: Array<Record<string, unknown>>, msg: string): number {
  const line = lines.find((candidate) => candidate.msg === msg);
  assert.ok(line !== undefined, `logged: ${msg}`);
  return Date.parse(String(line.time));
}

test('the leader partitioned from etcd stops acting before the other takes over; 0 failed reads', async () => {
  const views = [await cluster.forwarders(), await cluster.forwarders()];
  rig = await startHaRig(cluster, { etcdUrls: views.map((view) => view.urls) });
  const { leader, follower } = await rig.leader();
  const cut = views[rig.instances.indexOf(leader)];
  assert.ok(cut !== undefined);
  const master = rig.master.client();
  const stats = await masterStats(master);
  const reader = startReader({ httpUrl: follower.httpUrl, key: 'ha:key', expected: 'value' });
  await waitFor(() => reader.ok >= 20, { what: 'reads before the partition' });

  for (const forwarder of cut.all) forwarder.setMode({ kind: 'blackhole' });
  await rig.waitFor(follower, 'the other instance leads, healthy', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  await waitFor(() => followsPort(rig?.active.client() ?? master, follower.resp.port), {
    what: 'the active streaming through the new leader',
    timeoutMs: 60_000,
  });
  const cutOff = await rig.status(leader);
  assert.equal(cutOff.leader, false, 'the partitioned instance no longer leads');
  assert.equal(cutOff.state, 'degraded');

  // Never two at once: the old leader stopped before the new one was elected (one clock: the
  // processes run on this host).
  const stopped = loggedAt(leader.logs(), 'deposed: this instance stops acting');
  const elected = loggedAt(follower.logs(), 'elected: this instance leads the group');
  assert.ok(stopped < elected, `stopped at ${stopped}, the other elected at ${elected}`);

  await master.set('ha:after-partition', 'yes');
  await waitForInSync(master, rig.active.client());
  assert.equal((await masterStats(master)).syncFull, stats.syncFull, 'no full sync');
  assert.equal(await flushallCalls(rig.active.client()), 0);
  assert.equal(await flushallCalls(rig.standby.client()), 0);

  for (const forwarder of cut.all) forwarder.setMode({ kind: 'pass' });
  await rig.waitFor(leader, 'the old leader follows, healthy', (s) => {
    return s.leader === false && s.state === 'healthy';
  });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
});
