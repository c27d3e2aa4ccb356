// Instances of one group must manage the same master and the same two nodes (docs/ha.md,
// "Deploying two instances"; src/ha/group-identity.ts). A third instance started on the group's
// etcd prefix with another --master (a second redis holding another dataset), or with another
// node in place of the standby, or with another --etcd-lease-ms, never campaigns: it is `degraded`, naming the flag that differs
// and the instance that recorded the group's value. Once every instance of the group is killed
// (kill -9) it still does not lead, though nobody else is left to compare with: no REPLICAOF, no
// FLUSHALL, no CONFIG SET reaches any node, the foreign master never serves a sync, and the
// active keeps serving the group's data. Without the check it led, repointed the active at the
// other master (+FULLRESYNC), failed over to the other dataset and flushed the real one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info, masterStats, populate } from '../../harness/replication.js';
import { startHaRig, type HaRig, type InstanceOverrides } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
});

/** What rbuddy may send a node to change it; each must not move while the drifted instance runs. */
const CHANGES = ['replicaof', 'slaveof', 'flushall', 'flushdb', 'config|set', 'client|kill'];

async function changesOn(client: Redis): Promise<Record<string, string | undefined>> {
  const stats = await info(client, 'commandstats');
  return Object.fromEntries(CHANGES.map((command) => [command, stats[`cmdstat_${command}`]]));
}

async function keyCount(client: Redis): Promise<number> {
  return client.dbsize();
}

/**
 * The group healthy with its two instances; a third given `overrides`. Then both of the group's
 * instances are killed. Checks what the drifted one reports and that it never touches a node.
 */
async function drifted(
  foreign: RedisServer,
  overrides: InstanceOverrides,
  expected: (rig: HaRig) => RegExp,
): Promise<void> {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const nodes = [rig.active, rig.standby, foreign];
  const before = await Promise.all(nodes.map((node) => changesOn(node.client())));
  const activeKeys = await keyCount(rig.active.client());
  const foreignStats = await masterStats(foreign.client());
  const groupAnnounces = [leader, follower].map((rbuddy) => `127.0.0.1:${rbuddy.resp.port}`);

  const drift = await rig.spawn(overrides);
  const reason = expected(rig);
  const named = (status: { reason: string | null }): boolean =>
    groupAnnounces.some((announce) => status.reason?.includes(`announce ${announce},`) === true);
  const seen = await rig.waitFor(drift, 'the drifted instance degraded, naming why', (status) => {
    return status.state === 'degraded' && reason.test(status.reason ?? '') && named(status);
  });
  assert.equal(seen.leader, false);
  // Either of the group's instances may lead by now (a loaded machine can cost a renewal).
  const leading = [leader, follower].find(
    (rbuddy) => seen.leaderAnnounce === `127.0.0.1:${rbuddy.resp.port}`,
  );
  assert.ok(leading !== undefined, `led by the group: ${String(seen.leaderAnnounce)}`);
  assert.equal((await rig.status(leading)).state, 'healthy', 'the group goes on');

  // Every instance of the group dies: nobody is left whose registration could be compared.
  await rig.kill9(follower);
  await rig.kill9(leader);
  // It sees the leader key gone (the lease expired) in a round that also found the drift: an
  // instance allowed to campaign would have taken the key in that very round.
  const after = await rig.waitFor(drift, 'the drifted instance to see nobody lead', (status) => {
    if (status.leader === true) return true;
    return (
      status.leaderAnnounce === null &&
      status.state === 'degraded' &&
      reason.test(status.reason ?? '')
    );
  });
  assert.equal(after.leader, false, 'the drifted instance leads');
  assert.ok(named(after), after.reason ?? '');

  for (const [index, node] of nodes.entries()) {
    assert.deepEqual(await changesOn(node.client()), before[index], `nothing sent to ${node.name}`);
  }
  assert.equal((await masterStats(foreign.client())).syncFull, foreignStats.syncFull);
  const replication = await info(rig.active.client(), 'replication');
  assert.equal(replication.role, 'slave');
  assert.ok(
    [leader, follower].some((rbuddy) => replication.master_port === String(rbuddy.resp.port)),
    `the active still follows the group's instances: ${String(replication.master_port)}`,
  );
  assert.equal(await keyCount(rig.active.client()), activeKeys);
  assert.equal(await rig.active.client().get('ha:key'), 'value');
  await assertReadsRight(drift, rig);
}

/** What the drifted instance names as the active still holds the group's data. */
async function assertReadsRight(drift: RbuddyProcess, rig: HaRig): Promise<void> {
  const response = await fetch(`${drift.httpUrl}/active`, { signal: AbortSignal.timeout(2_000) });
  const text = (await response.text()).trim();
  // A follower may stop naming an active it cannot vouch for; one it names must be the group's.
  if (response.status === 200) assert.equal(text, `redis://${rig.active.address}/`);
}

test('an instance given another --master never leads the group, even once the group is gone', async () => {
  const other = await startRedis({ name: 'other-master' });
  await populate(other.client(), { megabytes: 1 });
  await other.client().set('ha:key', 'OTHER-DATASET');
  await drifted(other, { master: other.address }, (rig) => {
    const master = rig.master.address.replace(/\./g, '\\.');
    const mine = other.address.replace(/\./g, '\\.');
    return new RegExp(
      `^--master differs: this instance has ${mine}, the group's is ${master} \\(recorded in .*/identity by instance `,
    );
  });
});

test('an instance given another node never leads the group, even once the group is gone', async () => {
  const stray = await startRedis({ name: 'stray' });
  await stray.client().set('stray:key', 'mine');
  await drifted(stray, { standby: stray.address }, () => {
    return /^--active\/--standby differ: this instance has .*, the group's are .* \(recorded in .*\/identity by instance /;
  });
  assert.equal(await stray.client().get('stray:key'), 'mine');
});

test('an instance given a longer --etcd-lease-ms never leads the group, even once the group is gone', async () => {
  // Its view would outlast the leader's wait before a flush: it could name a flushed node.
  const idle = await startRedis({ name: 'idle' });
  await drifted(idle, { leaseMs: 10_000 }, () => {
    return /^--etcd-lease-ms differs: this instance has 10000, the group's is \d+ \(recorded in .*\/identity by instance /;
  });
});
