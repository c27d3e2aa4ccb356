// The leader cut off from etcd but not from Redis (a blackholing forwarder in front of each etcd
// member, as that instance sees etcd; docs/ha.md, "Failure modes"): it stops acting before its
// lease can expire, the other instance takes over after it, the active continues through the new
// leader (+CONTINUE) with 0 failed reads, and at no time do both act: the old leader's log says it
// stopped before the new one's says it was elected. The new leader then carries a planned failover
// through (the old one still cut off): the outgoing active is flushed once, the new one never.
// Healed, the old leader follows. etcd's own history shows every write of the group's state (roles,
// each failover step, the flush record) made under the leader of its revision, the old leader's
// before the partition and the new one's after (test/helpers/etcd-state-history.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertStateWritesUnderLeader, firstWriteOf } from '../helpers/etcd-state-history.js';
import { flushallCalls, followsPort, startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

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

test('the leader partitioned from etcd stops acting before the other takes over, which then fails over alone; 0 failed reads', async () => {
  const views = [await cluster.forwarders(), await cluster.forwarders()];
  rig = await startHaRig(cluster, { etcdUrls: views.map((view) => view.urls) });
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch ?? 0;
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

  // The new leader fails over while the old one is still cut off: roles, steps and the flush are
  // all its own.
  await requestPlannedSwitch(follower.httpUrl, TOKEN);
  const switched = await rig.waitFor(follower, 'the planned failover completed', (s) => {
    return s.leader === true && s.state === 'healthy' && s.epoch === epoch + 1;
  });
  assert.equal(switched.active, rig.standby.address);
  assert.equal(await flushallCalls(rig.active.client()), 1, 'the outgoing active flushed once');
  assert.equal(await flushallCalls(rig.standby.client()), 0, 'the new active never flushed');

  for (const forwarder of cut.all) forwarder.setMode({ kind: 'pass' });
  await rig.waitFor(leader, 'the old leader follows, healthy', (s) => {
    return s.leader === false && s.state === 'healthy' && s.epoch === epoch + 1;
  });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.equal(await flushallCalls(rig.active.client()), 1, 'nothing flushed after the heal');

  const writes = await assertStateWritesUnderLeader(cluster, rig.keys);
  const announce = (rbuddy: typeof leader): string => `127.0.0.1:${rbuddy.resp.port}`;
  // The cut-off leader wrote nothing once the other one was elected: every write from the new
  // leader's fence on is the new leader's.
  const fence = writes.find((write) => write.writtenBy?.announce === announce(follower))?.writtenBy
    ?.fence;
  assert.ok(fence !== undefined, 'the new leader wrote the state');
  const late = writes.filter(
    (write) => write.revision > fence && write.writtenBy?.announce !== announce(follower),
  );
  assert.deepEqual(late, []);
  assert.ok(writes.some((write) => write.writtenBy?.announce === announce(leader)));
  assert.equal(firstWriteOf(writes, 'switched').writtenBy?.announce, announce(follower));
  assert.equal(firstWriteOf(writes, 'flushed').writtenBy?.announce, announce(follower));
});
