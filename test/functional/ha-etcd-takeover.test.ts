// Two rbuddy CLI processes of one group on a real 3-member etcd cluster, real redis-servers
// (docs/ha.md). kill -9 of the leader: the follower takes over and the active continues through
// it with +CONTINUE (the master's sync_full unchanged) while a reader that follows GET /active on
// the follower never fails a read. kill -9 of the leader mid-failover (promoted with the standby
// syncing; held for an operator; switched, before the flush): the new leader completes the
// failover from the state in etcd and flushes only the outgoing active (I2, docs/design.md),
// once. After each, etcd's history shows every write of the group's state made under the leader
// of its revision (test/helpers/etcd-state-history.ts), each step by the instance that took it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../harness/webhook-receiver.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { assertStateWritesUnderLeader, firstWriteOf } from '../helpers/etcd-state-history.js';
import { flushallCalls, followsPort, startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];
const receivers: WebhookReceiver[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await stopAllReaders();
  await Promise.all(rigs.map((rig) => rig.close()));
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await stopAllRedis();
  await cluster.close();
});

test('kill -9 of the leader: the follower leads, the active continues through it (+CONTINUE), 0 failed reads', async () => {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const followed = await rig.status(follower);
  assert.equal(followed.leader, false);
  assert.equal(followed.leaderAnnounce, `127.0.0.1:${leader.resp.port}`);
  assert.equal(followed.active, rig.active.address);
  const master = rig.master.client();
  const before = await masterStats(master);
  const epoch = followed.epoch;
  const reader = startReader({ httpUrl: follower.httpUrl, key: 'ha:key', expected: 'value' });
  // ioredis given both instances as sentinels, the leader first.
  const sentinels = [leader, follower].map((rbuddy) => rbuddy.resp);
  const sentinelReader = readThroughSentinels(sentinels);
  await waitFor(() => reader.ok >= 20 && sentinelReader.ok >= 20, {
    what: 'reads before the kill',
  });

  await rig.kill9(leader);
  await master.set('ha:while-no-leader', 'yes');
  const led = await rig.waitFor(follower, 'the follower to lead, healthy', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  await waitFor(() => followsPort(rig.active.client(), follower.resp.port), {
    what: 'the active streaming through the new leader',
    timeoutMs: 60_000,
  });
  await waitForInSync(master, rig.active.client());
  assert.equal(await rig.active.client().get('ha:while-no-leader'), 'yes');
  const after = await masterStats(master);
  assert.equal(after.syncFull, before.syncFull, 'no full sync');
  assert.ok(after.syncPartialOk > before.syncPartialOk, 'the active PSYNCed: +CONTINUE');
  assert.ok(
    follower
      .logs()
      .some((l) => l.msg === 'master answered CONTINUE' && l.replica === rig.active.address),
    'the new leader relayed +CONTINUE to the active',
  );
  assert.equal(led.epoch, epoch, 'a takeover is no failover');
  assert.equal(led.takeovers, 1);
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the takeover' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  const viaSentinels = await sentinelReader.stop();
  assert.equal(viaSentinels.failed, 0, viaSentinels.errors.join('; '));
  // A client started now, its first sentinel dead, finds the active through the second.
  const late = readThroughSentinels(sentinels);
  await waitFor(() => late.ok >= 5, { what: 'reads of a client whose first sentinel is dead' });
  assert.equal((await late.stop()).failed, 0);
  assert.equal(await flushallCalls(rig.active.client()), 0);
  assert.equal(await flushallCalls(rig.standby.client()), 0);
  await assertStateWritesUnderLeader(cluster, rig.keys);
});

/** GET ha:key in a loop through ioredis's Sentinel support, given `sentinels`. */
function readThroughSentinels(sentinels: Array<{ host: string; port: number }>): {
  readonly ok: number;
  stop(): Promise<{ failed: number; errors: string[] }>;
} {
  const client = new Redis({
    sentinels,
    name: 'rbuddy',
    // As the README advises: the active answers ROLE as a replica (it is one, of the master).
    role: 'slave',
    failoverDetector: true,
    commandTimeout: 1000,
    sentinelRetryStrategy: () => 100,
  });
  client.on('error', () => undefined);
  const counts = { ok: 0, failed: 0, errors: [] as string[] };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const value = await client.get('ha:key');
        if (value !== 'value') throw new Error(`read ${String(value)}`);
        counts.ok += 1;
      } catch (error) {
        counts.failed += 1;
        counts.errors.push(error instanceof Error ? error.message : String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  })();
  return {
    get ok() {
      return counts.ok;
    },
    async stop() {
      running = false;
      await loop;
      client.disconnect();
      return counts;
    },
  };
}

function announceOf(rbuddy: RbuddyProcess): string {
  return `127.0.0.1:${rbuddy.resp.port}`;
}

/** Kills the master (saved first), waits for the leader to promote the active and attach the standby. */
async function startFailover(rig: HaRig): Promise<void> {
  const { leader } = await rig.leader();
  await rig.master.client().save();
  await rig.master.kill9();
  await rig.waitFor(leader, 'the active promoted, the standby attached', (s) => {
    return s.state === 'failing-over' && s.failover?.step === 'syncing';
  });
  assert.equal((await info(rig.active.client(), 'replication')).role, 'master');
}

/** The failover completed under `leader`: roles swapped, I2, the data on the new active. */
async function assertCompleted(rig: HaRig, epoch: number | null): Promise<void> {
  const [survivor] = rig.instances;
  assert.ok(survivor !== undefined);
  const done = await rig.waitFor(survivor, 'the failover completed', (s) => {
    return s.leader === true && s.state === 'healthy' && s.epoch === (epoch ?? 0) + 1;
  });
  assert.equal(done.active, rig.standby.address);
  assert.equal(done.standby, rig.active.address);
  const master = rig.master.client();
  await waitForInSync(master, rig.standby.client());
  assert.equal(await digest(rig.standby.client()), await digest(master));
  assert.equal(await flushallCalls(rig.standby.client()), 0, 'the new active never flushed');
  assert.equal(await flushallCalls(rig.active.client()), 1, 'the outgoing active flushed once');
}

test('kill -9 of the leader after the promotion, the standby syncing: the new leader completes the failover', async () => {
  const rig = await startHaRig(cluster, { masterArgs: { 'repl-diskless-sync': 'no' } });
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch;
  const reader = startReader({ httpUrl: follower.httpUrl, key: 'ha:key', expected: 'value' });
  await startFailover(rig);

  await rig.kill9(leader);
  const resumed = await rig.waitFor(follower, 'the follower leads the failover', (s) => {
    return s.leader === true && s.state === 'failing-over';
  });
  assert.equal(resumed.failover?.step, 'syncing');
  assert.equal(resumed.active, rig.active.address, 'the roles did not change');
  assert.equal(await flushallCalls(rig.active.client()), 0);
  await rig.master.restart();
  await assertCompleted(rig, epoch);
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  const writes = await assertStateWritesUnderLeader(cluster, rig.keys);
  assert.equal(firstWriteOf(writes, 'started').writtenBy?.announce, announceOf(leader));
  assert.equal(firstWriteOf(writes, 'switched').writtenBy?.announce, announceOf(follower));
  assert.equal(firstWriteOf(writes, 'flushed').writtenBy?.announce, announceOf(follower));
});

test('kill -9 of the leader between the switch and the flush: the new leader flushes the outgoing active once', async () => {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const rig = await startHaRig(cluster, {
    masterArgs: { 'repl-diskless-sync': 'no' },
    drainMs: 10_000,
    extra: ['--webhook', receiver.url, '--webhook-secret', receiver.secret],
  });
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch;
  const reader = startReader({ httpUrl: follower.httpUrl, key: 'ha:key', expected: 'value' });
  await startFailover(rig);
  await rig.master.restart();
  const switched = await rig.waitFor(leader, 'the switch (draining)', (s) => {
    return s.failover?.step === 'switched';
  });
  assert.equal(switched.active, rig.standby.address);

  await rig.kill9(leader);
  assert.equal(await flushallCalls(rig.active.client()), 0, 'not flushed before the kill');
  await assertCompleted(rig, epoch);
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));

  // The webhooks of both leaders, from the outbox in etcd: the failover's events, each once.
  const wanted = ['active.promoted', 'standby.attached', 'failover.completed', 'standby.ready'];
  await waitFor(
    () => wanted.every((type) => receiver.delivered().some((event) => event.type === type)),
    { what: `webhooks ${wanted.join(', ')}`, explain: () => JSON.stringify(receiver.attempts) },
  );
  assert.ok(
    receiver.attempts.every((attempt) => attempt.verified),
    'every delivery signed',
  );
  assertOneIdEach(receiver, wanted);
  const writes = await assertStateWritesUnderLeader(cluster, rig.keys);
  assert.equal(firstWriteOf(writes, 'switched').writtenBy?.announce, announceOf(leader));
  assert.equal(firstWriteOf(writes, 'flushed').writtenBy?.announce, announceOf(follower));
});

/** Each of `types` was delivered as one event (one id), however many attempts it took. */
function assertOneIdEach(receiver: WebhookReceiver, types: readonly string[]): void {
  for (const type of types) {
    const ids = receiver.delivered().filter((event) => event.type === type);
    assert.equal(ids.length, 1, `${type} is one event (one id): ${JSON.stringify(ids)}`);
  }
}

test('kill -9 of the leader while the failover is held: the new leader holds it, the operator confirms on it, the outgoing active is flushed once', async () => {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const rig = await startHaRig(cluster, {
    // Diskless, at once: the master keeps no RDB, so a kill -9 brings it back empty.
    masterArgs: { 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
    extra: [
      ...['--guard-empty', 'hold'],
      ...['--webhook', receiver.url, '--webhook-secret', receiver.secret],
    ],
  });
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch;
  const master = rig.master.client();
  const reader = startReader({ httpUrl: follower.httpUrl, key: 'ha:key', expected: 'value' });
  await waitFor(() => reader.ok >= 20, { what: 'reads before the failover' });

  // The master comes back empty: the failover's standby syncs nothing while the active holds the
  // data, and the data-loss guard holds the switch for an operator.
  await rig.master.kill9();
  await rig.master.restart();
  assert.equal(await master.dbsize(), 0, 'the master came back empty');
  const held = await rig.waitFor(leader, 'the failover held', (s) => s.state === 'held');
  assert.equal(held.failover?.step, 'held');
  assert.equal(held.epoch, epoch, 'not switched');
  assert.equal(held.active, rig.active.address);
  assert.equal(await rig.standby.client().dbsize(), 0, 'the standby synced the empty master');
  assert.ok((await rig.active.client().dbsize()) > 0, 'the active keeps its data');

  await rig.kill9(leader);
  // Held by the new leader from the record in etcd; ready for a confirm once the standby, the
  // very process that synced, streams through it (until then its status says a confirm would be
  // refused, and a refused confirm sends the failover back to the standby's sync).
  const resumed = await rig.waitFor(follower, 'the follower leads the held failover', (s) => {
    return s.leader === true && s.state === 'held' && !/confirm is refused/.test(s.reason ?? '');
  });
  assert.equal(resumed.failover?.step, 'held');
  assert.equal(resumed.failover?.syncedRunId, held.failover?.syncedRunId);
  assert.equal(resumed.epoch, epoch, 'not switched');
  assert.equal(resumed.active, rig.active.address);
  assert.ok(await followsPort(rig.standby.client(), follower.resp.port));
  assert.equal(await flushallCalls(rig.active.client()), 0, 'nothing flushed while held');
  // What the reader reads, written again on the (emptied) master: after the confirm it is read
  // from the new active, so a switch that lost the stream would show as a failed read.
  await master.set('ha:key', 'value');
  await waitForInSync(master, rig.standby.client());

  const confirmed = await fetch(`${follower.httpUrl}/v1/failover/confirm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(confirmed.status, 202, await confirmed.text());
  await assertCompleted(rig, epoch);
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the switch' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.deepEqual(
    result.actives,
    [rig.active.address, rig.standby.address].map((a) => `redis://${a}/`),
  );

  const wanted = [
    'active.promoted',
    'standby.attached',
    'standby.synced',
    'failover.held',
    'failover.completed',
    'standby.ready',
  ];
  await waitFor(
    () => wanted.every((type) => receiver.delivered().some((event) => event.type === type)),
    { what: `webhooks ${wanted.join(', ')}`, explain: () => JSON.stringify(receiver.attempts) },
  );
  assertOneIdEach(receiver, wanted);
  const writes = await assertStateWritesUnderLeader(cluster, rig.keys);
  assert.equal(firstWriteOf(writes, 'held').writtenBy?.announce, announceOf(leader));
  assert.equal(firstWriteOf(writes, 'switched').writtenBy?.announce, announceOf(follower));
  assert.equal(firstWriteOf(writes, 'flushed').writtenBy?.announce, announceOf(follower));
});
