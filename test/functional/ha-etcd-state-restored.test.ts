// Two rbuddy CLI processes of one group on a real 3-member etcd cluster, real redis-servers
// (docs/ha.md, "Leader and followers"; docs/design.md, "Restart and reconciliation"): the group's
// state key changed under the instances. After a planned switch (epoch 1), the epoch-0 value is
// put back (an etcd restored from a backup) and the leader killed: the follower, which read epoch
// 1, writes it back as it takes over (epochs never go back); with every instance that knew it
// gone, a new one adopts the node with the data (epoch + 1). Either way the node with the data is
// never held or flushed, the empty one never promoted, and a reader following GET /active reads
// no nil and fails no read. With the leader alive, the
// key deleted or set back is written back by the leader, and its follower never says `healthy`
// naming no active, nor names the flushed node.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { startReader, stopAllReaders, type Reader } from '../../harness/reader.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import type { AppStatus } from '../../src/app.js';
import { flushallCalls, startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
let etcd: Etcd3;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
  etcd = new Etcd3({ hosts: [...cluster.clientUrls] });
});

after(async () => {
  await stopAllReaders();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  etcd.close();
  await cluster.close();
});

interface Switched {
  rig: HaRig;
  leader: RbuddyProcess;
  follower: RbuddyProcess;
  /** The state key's value before the switch (epoch 0, the configured active). */
  epochZero: string;
}

/** A group after a planned switch: the configured --standby serves (epoch 1), both know it. */
async function afterPlannedSwitch(): Promise<Switched> {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const epochZero = await etcd.get(rig.keys.state).string();
  assert.ok(epochZero !== null);
  const accepted = await fetch(`${leader.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(accepted.status, 202);
  const switched = (s: AppStatus): boolean =>
    s.state === 'healthy' && s.epoch === 1 && s.failover === null;
  await rig.waitFor(leader, 'the planned switch done', switched);
  await rig.waitFor(follower, 'the follower at epoch 1', switched);
  await waitForInSync(rig.master.client(), rig.standby.client());
  return { rig, leader, follower, epochZero };
}

function readerOn(rbuddy: RbuddyProcess): Reader {
  return startReader({ httpUrl: rbuddy.httpUrl, key: 'ha:key', expected: 'value' });
}

/** What the new leader did: no promotion, no failover, no retire, no switch. */
function assertNothingDone(instance: RbuddyProcess): void {
  const actions = instance
    .logs()
    .filter((line) => line.msg === 'failover action')
    .map((line) => String(line.action));
  for (const never of ['promote', 'begin-failover', 'retire-outgoing', 'switch']) {
    assert.ok(!actions.includes(never), `no ${never}: ${actions.join(', ')}`);
  }
}

/** The node with the data continued through the new leader: no flush, no full sync, not promoted. */
async function assertDataKept(
  rig: HaRig,
  before: { syncFull: number; emptyReplid: string | undefined },
): Promise<void> {
  const [withData, empty, master] = [rig.standby, rig.active, rig.master.client()];
  await master.set('ha:after-the-restore', 'relayed');
  await waitForInSync(master, withData.client());
  assert.equal(await digest(withData.client()), await digest(master));
  assert.equal(await flushallCalls(withData.client()), 0);
  assert.equal((await masterStats(master)).syncFull, before.syncFull, 'no full sync');
  // The empty node: never promoted (same replication id), the held idle standby.
  assert.equal((await info(empty.client(), 'replication')).master_replid, before.emptyReplid);
  await assertHeldStandby(empty.client(), 'ha:key');
}

async function storedState(rig: HaRig): Promise<{ epoch?: number; active?: string }> {
  return JSON.parse((await etcd.get(rig.keys.state).string()) ?? '{}') as {
    epoch?: number;
    active?: string;
  };
}

test('the state set back to before a planned switch, the leader killed: the follower, which read the newer state, writes it back and names the node with the data throughout', async () => {
  const { rig, leader, follower, epochZero } = await afterPlannedSwitch();
  const withData = rig.standby;
  const empty = rig.active;
  const master = rig.master.client();
  const reader = readerOn(follower);
  await waitFor(() => reader.ok >= 20, { what: 'reads before the kill' });
  for (const node of [withData, empty]) await node.client().config('RESETSTAT');
  const emptyReplid = (await info(empty.client(), 'replication')).master_replid;
  const syncFullBefore = (await masterStats(master)).syncFull;

  // Killed first, so that it cannot write its state back; then the old value put back.
  await rig.kill9(leader);
  await etcd.put(rig.keys.state).value(epochZero);
  // The follower read it while still following (the old leader's lease runs for seconds) and
  // keeps answering from epoch 1: nobody live reports epoch 0.
  await rig.waitFor(follower, 'the follower to see the older state (still following)', (s) => {
    return s.leader === false && /went back from epoch 1 to 0/.test(s.reason ?? '');
  });
  const led = await rig.waitFor(follower, 'the new leader healthy on the newer state', (s) => {
    return s.leader === true && s.state === 'healthy' && s.active === withData.address;
  });
  assert.equal(led.epoch, 1, 'epochs never go back');
  assert.ok(
    follower
      .logs()
      .some((line) => /went back to an older epoch: writing back/.test(String(line.msg))),
    'the newer state written back before the term began',
  );
  assertNothingDone(follower);

  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the takeover' });
  const result = await reader.stop();
  assert.equal(result.nil, 0, result.errors.join('; '));
  assert.deepEqual(result.actives, [`redis://${withData.address}/`]);
  assert.equal(result.failed, 0, result.errors.join('; '));
  await assertDataKept(rig, { syncFull: syncFullBefore, emptyReplid });
  const stored = await storedState(rig);
  assert.deepEqual([stored.epoch, stored.active], [1, withData.address]);
});

test('the state set back, every instance that knew the newer one gone: a new instance adopts the node with the data (epoch + 1), nothing flushed', async () => {
  const { rig, leader, follower, epochZero } = await afterPlannedSwitch();
  const withData = rig.standby;
  const empty = rig.active;
  const master = rig.master.client();
  for (const node of [withData, empty]) await node.client().config('RESETSTAT');
  const emptyReplid = (await info(empty.client(), 'replication')).master_replid;
  const syncFullBefore = (await masterStats(master)).syncFull;

  await rig.kill9(leader);
  await rig.kill9(follower);
  await etcd.put(rig.keys.state).value(epochZero);
  const fresh = await rig.spawn();
  const led = await rig.waitFor(fresh, 'the new instance healthy on the adopted roles', (s) => {
    return s.leader === true && s.state === 'healthy' && s.active === withData.address;
  });
  assert.equal(led.epoch, 1, 'epoch 0 restored, + 1 for the adoption');
  const adoption = fresh
    .logs()
    .find((line) => line.msg === 'failover action' && line.action === 'adopt-nodes-roles');
  assert.ok(adoption !== undefined, 'the new leader adopted the roles the nodes show');
  assertNothingDone(fresh);
  const reader = readerOn(fresh);
  await waitFor(() => reader.ok >= 20, { what: 'reads after the adoption' });
  const result = await reader.stop();
  assert.equal(result.nil, 0, result.errors.join('; '));
  assert.deepEqual(result.actives, [`redis://${withData.address}/`]);
  assert.equal(result.failed, 0, result.errors.join('; '));
  await assertDataKept(rig, { syncFull: syncFullBefore, emptyReplid });
  const stored = await storedState(rig);
  assert.deepEqual([stored.epoch, stored.active], [1, withData.address]);
});

test('the state deleted, then set back, under a live leader: written back; the follower never healthy with no active, never naming the flushed node', async () => {
  const { rig, leader, follower } = await afterPlannedSwitch();
  const withData = rig.standby;
  const current = await etcd.get(rig.keys.state).string();
  const reader = readerOn(follower);
  await waitFor(() => reader.ok >= 20, { what: 'reads before the change' });
  const seen: Array<{ state: string; active: string | null }> = [];
  const watchFollower = async (): Promise<void> => {
    const status = await rig.status(follower);
    seen.push({ state: status.state, active: status.active });
  };
  const storedEpoch = async (): Promise<number | undefined> => {
    const text = await etcd.get(rig.keys.state).string();
    return text === null ? undefined : (JSON.parse(text) as { epoch: number }).epoch;
  };

  await etcd.delete().key(rig.keys.state);
  await waitFor(
    async () => {
      await watchFollower();
      return (await storedEpoch()) === 1;
    },
    { what: 'the deleted state written back by the leader' },
  );
  const epochZero = JSON.stringify({
    ...(JSON.parse(current ?? '{}') as Record<string, unknown>),
    epoch: 0,
    active: rig.active.address,
    standby: rig.standby.address,
    failover: null,
    lastFailover: null,
  });
  await etcd.put(rig.keys.state).value(epochZero);
  await waitFor(
    async () => {
      await watchFollower();
      return (await storedEpoch()) === 1;
    },
    { what: 'the older state replaced by the leader' },
  );
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the changes' });
  const result = await reader.stop();

  assert.ok(
    leader.logs().some((line) => String(line.msg).startsWith('the stored state is not the one')),
    'the leader says it wrote the state back',
  );
  assert.deepEqual(
    seen.filter((status) => status.active !== withData.address),
    [],
    'the follower kept naming the node with the data',
  );
  assert.ok(seen.every((status) => status.state !== 'healthy' || status.active !== null));
  assert.equal(result.nil, 0, result.errors.join('; '));
  assert.deepEqual(result.actives, [`redis://${withData.address}/`]);
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.equal((await rig.status(leader)).active, withData.address);
});
