// A `state` key in etcd that no leader wrote (docs/ha.md, "Who wrote the state"): put by hand, or
// by anything that is not the current leader, with a higher epoch and no `writtenBy`, naming the
// empty held standby as the active. Two rbuddy CLI processes on a real 3-member etcd cluster, real
// redis-servers. Without the check, followers took it as the group's state: they named the empty
// standby for a poll with the leader alive (until it wrote its own back), and for seconds with it
// killed; and a new leader elected on one carrying a switch went on to retire the node with the
// data. Now a follower keeps its previous view and reports the anomaly; a new leader writes back
// the last version a leader wrote (from etcd's history, or, compacted, the last one it read as a
// follower) and takes over on it: nothing is flushed, promoted or switched. A new instance with
// neither refuses to act on the forged state (no command to any node) until the key is fixed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { writtenByOf } from '../../src/ha/written-by.js';
import { flushallCalls, startHaRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
let etcd: Etcd3;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
  etcd = new Etcd3({ hosts: [...cluster.clientUrls] });
});

after(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  etcd.close();
  await cluster.close();
});

type Stored = Record<string, unknown> & { epoch: number; active: string; standby: string };

async function stored(rig: HaRig): Promise<Stored> {
  return JSON.parse((await etcd.get(rig.keys.state).string()) ?? 'null') as Stored;
}

/** The state as a hand would write it: roles swapped, a higher epoch, no writtenBy. */
function forgedFrom(state: Stored, extra: Record<string, unknown> = {}): string {
  const forged: Record<string, unknown> = {
    ...state,
    ...extra,
    epoch: state.epoch + 5,
    active: state.standby,
    standby: state.active,
  };
  delete forged.writtenBy;
  return JSON.stringify(forged);
}

/**
 * A switch to the empty standby, its drain long over: resumed as it stands, it would retire
 * (flush) the node with the data.
 */
function forgedSwitch(state: Stored): Record<string, unknown> {
  const at = new Date(Date.now() - 60_000).toISOString();
  return {
    id: 'forged',
    kind: 'planned',
    reason: 'by hand',
    startedAt: at,
    outgoing: state.active,
    incoming: state.standby,
    step: 'switched',
    savedConfig: null,
    verifiedAt: at,
    timeline: [{ step: 'switched', at, detail: 'by hand' }],
  };
}

/** What `rbuddy` names as the active, asked every 25 ms until stopped: every answer kept. */
function watchNamed(rbuddy: RbuddyProcess): { named: Set<string>; stop: () => Promise<void> } {
  const named = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const response = await fetch(`${rbuddy.httpUrl}/active`, {
        signal: AbortSignal.timeout(2_000),
      }).catch(() => undefined);
      if (response?.status === 200) named.add((await response.text()).trim());
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    named,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** What rbuddy may send a node to change it. */
const CHANGES = ['replicaof', 'slaveof', 'flushall', 'flushdb', 'config|set', 'client|kill'];

async function changesOn(client: Redis): Promise<Record<string, string | undefined>> {
  const stats = await info(client, 'commandstats');
  return Object.fromEntries(CHANGES.map((command) => [command, stats[`cmdstat_${command}`]]));
}

function failoverActions(rbuddy: RbuddyProcess): string[] {
  return rbuddy
    .logs()
    .filter((line) => line.msg === 'failover action')
    .map((line) => String(line.action));
}

/**
 * The group healthy, a state no leader wrote put under the live leader, then again once it is
 * killed (etcd compacted after it, if told: no history to go back to): the follower never names
 * the empty standby, reports the state, leads on the last state a leader wrote (found `from`).
 */
async function forgedUnderTheGroup(compact: boolean, from: RegExp): Promise<void> {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const withData = `redis://${rig.active.address}/`;
  const watcher = watchNamed(follower);
  const original = await stored(rig);
  const fence = writtenByOf(original)?.fence;
  assert.ok(fence !== undefined);

  // The leader alive: it writes its own back; the follower keeps what the leader wrote meanwhile.
  await etcd.put(rig.keys.state).value(forgedFrom(original));
  await waitFor(async () => writtenByOf(await stored(rig))?.fence === fence, {
    what: 'the leader to write its state back',
  });
  assert.equal((await stored(rig)).epoch, original.epoch);

  // The leader killed first: nobody writes it back before the follower leads.
  for (const node of [rig.active, rig.standby]) await node.client().config('RESETSTAT');
  const syncFull = (await masterStats(rig.master.client())).syncFull;
  await rig.kill9(leader);
  const put = await etcd.put(rig.keys.state).value(forgedFrom(original)).exec();
  if (compact) await etcd.kv.compact({ revision: put.header.revision, physical: true });
  await waitFor(
    () =>
      follower
        .logs()
        .some((line) =>
          /^the group's state in etcd was not written by its leader/.test(String(line.msg)),
        ),
    { what: 'the follower to report the state no leader wrote', timeoutMs: 30_000 },
  );
  const led = await rig.waitFor(follower, 'the follower to lead, healthy', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  assert.equal(led.active, rig.active.address);
  assert.equal(led.epoch, original.epoch, 'the last state a leader wrote, not the forged epoch');
  const now = await stored(rig);
  assert.equal(now.active, rig.active.address);
  assert.equal(now.epoch, original.epoch);
  assert.equal(writtenByOf(now)?.announce, `127.0.0.1:${follower.resp.port}`, 'written back');
  const restored = follower
    .logs()
    .find((line) =>
      /^the group's state in etcd was not written by its leader: writing back/.test(
        String(line.msg),
      ),
    );
  assert.match(String(restored?.from), from);

  await waitForInSync(rig.master.client(), rig.active.client());
  await watcher.stop();
  assert.deepEqual([...watcher.named], [withData], 'only the node with the data is ever named');
  for (const never of [
    'promote',
    'begin-failover',
    'switch',
    'retire-outgoing',
    'adopt-nodes-roles',
  ]) {
    assert.ok(
      !failoverActions(follower).includes(never),
      `no ${never}: ${failoverActions(follower).join()}`,
    );
  }
  assert.equal(await flushallCalls(rig.active.client()), 0);
  assert.equal(await flushallCalls(rig.standby.client()), 0);
  assert.equal((await masterStats(rig.master.client())).syncFull, syncFull, 'no full sync');
  await assertHeldStandby(rig.standby.client(), 'ha:key');
}

test('a state no leader wrote: followers never name it; a new leader takes over on the last one a leader wrote (etcd history)', () =>
  forgedUnderTheGroup(false, /history/));

test('the same with etcd compacted: the new leader takes over on the last state it read as a follower', () =>
  forgedUnderTheGroup(true, /the last state this instance read/));

test('a forged state with a switch to retire the active, no state a leader wrote in view or in history: nothing is done until it is fixed', async () => {
  const rig = await startHaRig(cluster, { instances: 1 });
  rigs.push(rig);
  const [first] = rig.instances;
  assert.ok(first !== undefined);
  const original = await stored(rig);
  await rig.kill9(first);
  const forged = forgedFrom(original, { failover: forgedSwitch(original) });
  // Compacted: etcd's history of the key cannot give back the state the dead leader wrote.
  const put = await etcd.put(rig.keys.state).value(forged).exec();
  await etcd.kv.compact({ revision: put.header.revision, physical: true });
  const nodes = [rig.active, rig.standby];
  const before = await Promise.all(nodes.map((node) => changesOn(node.client())));
  const flushes = await flushallCalls(rig.active.client());

  const next = await rig.spawn();
  const refusing = await rig.waitFor(next, 'the new instance to lead, refusing the state', (s) => {
    return (
      s.leader === true && /not written by its leader.*refusing to act on it/.test(s.reason ?? '')
    );
  });
  assert.equal(refusing.state, 'degraded');
  assert.match(refusing.reason ?? '', /no writtenBy/);
  for (const [index, node] of nodes.entries()) {
    assert.deepEqual(await changesOn(node.client()), before[index], `nothing sent to ${node.name}`);
  }

  // Fixed by the operator (deleted: the nodes' roles are read): it takes the group over.
  await etcd.delete().key(rig.keys.state);
  const healthy = await rig.waitFor(next, 'the new leader healthy on the nodes', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  assert.equal(healthy.active, rig.active.address);
  await waitForInSync(rig.master.client(), rig.active.client());
  assert.equal(await flushallCalls(rig.active.client()), flushes);
  for (const never of ['promote', 'switch', 'retire-outgoing']) {
    assert.ok(
      !failoverActions(next).includes(never),
      `no ${never}: ${failoverActions(next).join()}`,
    );
  }
});

test("a dead leader's stamp copied into a switch put after its lease was revoked: nobody takes it, nothing is flushed", async () => {
  // An attacker with write access to the prefix (not etcd's root): revokes the leader's lease
  // (its key goes with it) and puts a switch to the empty standby carrying that leader's stamp.
  // Before, the stamp's fence, once seen leading, was proof enough: both instances named the
  // empty standby, the new leader resumed the switch and sent FLUSHALL to the node with the data
  // (refused only by the write guard), and the master full-synced the "active" again and again.
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const watchers = rig.instances.map((instance) => watchNamed(instance));
  const withData = `redis://${rig.active.address}/`;
  const original = await stored(rig);
  assert.ok(writtenByOf(original) !== undefined, 'the leader stamped its state');
  const forged = JSON.stringify({
    ...original,
    epoch: original.epoch + 5,
    active: original.standby,
    standby: original.active,
    failover: { ...forgedSwitch(original), syncedKeys: 0, syncedRunId: null },
  });
  const syncFull = (await masterStats(rig.master.client())).syncFull;
  const flushes = await flushallCalls(rig.active.client());
  const leaderKey = (await etcd.get(rig.keys.leader).exec()).kvs[0];
  assert.ok(leaderKey !== undefined);
  await etcd.leaseClient.leaseRevoke({ ID: leaderKey.lease });
  await etcd.put(rig.keys.state).value(forged).exec();

  const reported = (instance: RbuddyProcess) =>
    instance
      .logs()
      .some((line) =>
        /^the group's state in etcd was not written by its leader/.test(String(line.msg)),
      );
  await waitFor(() => rig.instances.some(reported), {
    what: 'an instance to report the state no leader wrote',
    timeoutMs: 30_000,
  });
  // Either instance may lead now: the revoked one may still call itself the leader until its
  // next round finds the lease gone, so the one to wait for is not picked beforehand.
  const led = await waitFor(
    async () => {
      for (const instance of rig.instances) {
        const s = await rig.status(instance).catch(() => undefined);
        if (s?.leader === true && s.state === 'healthy' && s.epoch === original.epoch) return s;
      }
      return undefined;
    },
    { what: 'a leader healthy on the last state a leader wrote', timeoutMs: 90_000 },
  );
  assert.equal(led.active, rig.active.address);
  await waitFor(async () => (await stored(rig)).epoch === original.epoch, {
    what: 'the state written back',
  });
  await waitForInSync(rig.master.client(), rig.active.client());
  for (const watcher of watchers) await watcher.stop();
  for (const watcher of watchers) {
    assert.deepEqual([...watcher.named], [withData], 'only the node with the data is ever named');
  }
  for (const instance of rig.instances) {
    assert.ok(!failoverActions(instance).includes('retire-outgoing'), 'no retire');
  }
  assert.equal(await flushallCalls(rig.active.client()), flushes, 'no FLUSHALL sent to it');
  assert.equal((await masterStats(rig.master.client())).syncFull, syncFull, 'no full sync');
});
