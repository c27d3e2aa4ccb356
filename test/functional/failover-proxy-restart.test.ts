// Restart (docs/design.md, "Restart and reconciliation") and I2: the rbuddy process is killed with kill -9 at each step of a failover
// (after the promotion, during the standby's sync, between the switch and the flush) and
// restarted on the same address with the same --state-dir. Each time the cycle completes from
// the persisted step, the outgoing active is flushed exactly once and the new active is never
// flushed. A restart while healthy costs no full sync: the active PSYNCs through the new process
// and the master answers +CONTINUE.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { digest, info, masterStats, waitForInSync } from '../../harness/replication.js';
import { assertHeldStandby, keyCount } from '../../harness/held-standby.js';
import { flushallCalls, startRig, type Rig } from '../helpers/restart-rig.js';
import { waitFor } from '../../harness/wait-for.js';

/**
 * The outcome of one completed cycle: roles swapped, epoch + 1, the new active holds the
 * master's data and was never flushed, the old active was flushed exactly once and is an empty
 * master with its config restored.
 */
async function assertCycleCompleted(
  rig: Rig,
  before: { epoch: number; minReplicasToWrite: unknown },
): Promise<AppStatus> {
  const status = await rig.waitForStatus(
    'the failover to complete (healthy, epoch + 1, no failover recorded)',
    (s) => s.state === 'healthy' && s.epoch === before.epoch + 1 && s.failover === null,
  );
  assert.equal(status.active, rig.standby.address, 'the standby is the new active');
  assert.equal(status.standby, rig.active.address, 'the old active is the new standby');
  const activeUrl = await (await fetch(`${rig.rbuddy.httpUrl}/active`)).text();
  assert.equal(activeUrl.trim(), `redis://${rig.standby.address}/`);

  const master = rig.master.client();
  const incoming = rig.standby.client();
  const outgoing = rig.active.client();
  await waitForInSync(master, incoming);
  assert.equal(await digest(incoming), await digest(master), 'the new active has the data');
  assert.equal(await flushallCalls(incoming), 0, 'the new active was never flushed');

  // FLUSHALL ASYNC empties the keyspace at once; the freeing happens in the background.
  assert.equal(await keyCount(outgoing), 0, 'the old active was flushed');
  assert.equal(await flushallCalls(outgoing), 1, 'the old active was flushed exactly once');
  // The new standby is held: it answers -MASTERDOWN and -READONLY; its own settings are kept
  // for when it is the active again.
  await waitFor(async () => (await info(outgoing, 'replication')).master_link_status === 'down', {
    what: 'the new standby held',
  });
  await assertHeldStandby(outgoing, 'on-the-new-standby');
  assert.equal(
    status.lastFailover?.savedConfig?.['min-replicas-to-write'],
    before.minReplicasToWrite,
  );
  assert.deepEqual(
    status.lastFailover?.timeline.map((entry) => entry.step),
    ['started', 'standby-attached', 'synced', 'switched', 'flushed', 'standby-ready'],
  );
  return status;
}

async function snapshotBefore(
  rig: Rig,
): Promise<{ epoch: number; minReplicasToWrite: string | undefined }> {
  const status = await rig.status();
  assert.equal(status.state, 'healthy');
  return {
    epoch: status.epoch ?? -1,
    minReplicasToWrite: (
      (await rig.active.client().config('GET', 'min-replicas-to-write')) as string[]
    )[1],
  };
}

test('a restart while healthy costs no full sync: the active resumes with +CONTINUE', async () => {
  const rig = await startRig({
    drainMs: 1000,
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    populate: { megabytes: 5 },
  });
  const master = rig.master.client();
  const active = rig.active.client();
  await master.set('before-restart', 'yes');
  await waitForInSync(master, active);
  const statsBefore = await masterStats(master);
  const epochBefore = (await rig.status()).epoch;

  await rig.crash();
  // Writes while the proxy is gone: the active must get them from the backlog, not a snapshot.
  await master.set('while-the-proxy-is-down', 'yes');
  await rig.restart();

  await waitFor(async () => (await masterStats(master)).syncPartialOk > statsBefore.syncPartialOk, {
    what: "the master to serve the active's partial resync",
    timeoutMs: 60_000,
  });
  await waitForInSync(master, active);
  const status = await rig.waitForStatus('healthy after the restart', (s) => s.state === 'healthy');
  assert.equal(status.epoch, epochBefore, 'no failover');
  assert.equal(status.active, rig.active.address);
  assert.equal(status.failover, null);
  const statsAfter = await masterStats(master);
  assert.equal(statsAfter.syncFull, statsBefore.syncFull, 'no full sync');
  assert.equal(await active.get('while-the-proxy-is-down'), 'yes');
  assert.ok(
    rig.rbuddy
      .logs()
      .some(
        (line) => line.msg === 'master answered CONTINUE' && line.replica === rig.active.address,
      ),
    'the restarted proxy relayed +CONTINUE to the active',
  );
  assert.ok(
    !rig.rbuddy.logs().some((line) => line.msg === 'master answered FULLRESYNC'),
    'no FULLRESYNC through the restarted proxy',
  );
  assert.equal(await flushallCalls(active), 0);
  assert.equal(await flushallCalls(rig.standby.client()), 0);
});

test('killed after the promotion: the restarted proxy carries the failover on', async () => {
  const rig = await startRig({
    drainMs: 1000,
    masterArgs: { 'repl-diskless-sync': 'no' },
    populate: { megabytes: 5 },
  });
  const before = await snapshotBefore(rig);
  await rig.master.client().save();
  await rig.master.kill9();
  await rig.waitForStatus(
    'the active promoted and the standby attached',
    (s) => s.state === 'failing-over' && s.failover?.step === 'syncing',
  );
  assert.equal((await info(rig.active.client(), 'replication')).role, 'master');

  await rig.crash();
  await rig.restart();
  const resumed = await rig.waitForStatus(
    'the restarted proxy to resume the failover',
    (s) => s.state === 'failing-over',
  );
  assert.equal(resumed.failover?.step, 'syncing');
  assert.equal(resumed.active, rig.active.address, 'the roles did not change on restart');
  assert.equal(await flushallCalls(rig.active.client()), 0);
  assert.ok((await rig.active.client().dbsize()) > 0, 'the promoted active still serves its data');

  await rig.master.restart();
  await assertCycleCompleted(rig, before);
});

test('SIGTERM during a failover: a clean exit 0, and the next process completes the failover', async () => {
  const rig = await startRig({
    drainMs: 1000,
    masterArgs: { 'repl-diskless-sync': 'no' },
    populate: { megabytes: 5 },
  });
  const before = await snapshotBefore(rig);
  await rig.master.client().save();
  await rig.master.kill9();
  await rig.waitForStatus(
    'the active promoted and the standby attached',
    (s) => s.state === 'failing-over' && s.failover?.step === 'syncing',
  );

  // The CLI bounds its own shutdown (exit 1 after 8 s): exit code 0 means it stopped cleanly
  // within that bound, so no timing threshold is needed here.
  const stopped = await rig.terminate();
  assert.equal(stopped.code, 0, `a graceful stop exits 0 (took ${stopped.ms} ms)`);
  await rig.restart();
  const resumed = await rig.waitForStatus(
    'the restarted proxy to resume the failover',
    (s) => s.state === 'failing-over',
  );
  assert.equal(resumed.failover?.step, 'syncing');
  assert.equal(await flushallCalls(rig.active.client()), 0);

  await rig.master.restart();
  await assertCycleCompleted(rig, before);
});

test("killed during the standby's sync: the standby syncs again through the new process", async () => {
  // The master streams its snapshot slowly (diskless, a delay per key), so the proxy dies with
  // the standby's transfer half done. The delay is off until the master restarts.
  const rig = await startRig({
    drainMs: 1000,
    masterArgs: {
      'repl-diskless-sync': 'yes',
      'repl-diskless-sync-delay': 0,
      'rdb-key-save-delay': 200,
    },
    masterRuntime: { 'rdb-key-save-delay': '0' },
    populate: { megabytes: 2, valueBytes: 100 },
  });
  const before = await snapshotBefore(rig);
  await rig.master.client().save();
  await rig.master.kill9();
  await rig.waitForStatus('the standby attached', (s) => s.failover?.step === 'syncing');
  await rig.master.restart();

  const midSync = await rig.waitForStatus("the standby's snapshot half transferred", (s) => {
    const session = s.sessions.find((candidate) => candidate.replica === rig.standby.address);
    return session?.phase === 'snapshot' && (session.snapshot?.transferred ?? 0) > 0;
  });
  assert.equal(midSync.failover?.step, 'syncing');
  assert.equal(
    (await info(rig.standby.client(), 'replication')).master_sync_in_progress,
    '1',
    'the standby is mid-sync',
  );
  await rig.crash();
  await rig.restart();
  await assertCycleCompleted(rig, before);
  // The interrupted transfer and the one that completed: two full syncs, both to the standby.
  const stats = await masterStats(rig.master.client());
  assert.ok(stats.syncFull >= 2, `sync_full ${stats.syncFull}`);
});

test('killed between the switch and the flush: the flush happens once, after the drain', async () => {
  const drainMs = 15_000;
  const rig = await startRig({
    drainMs,
    masterArgs: { 'repl-diskless-sync': 'no' },
    populate: { megabytes: 5 },
  });
  const before = await snapshotBefore(rig);
  await rig.master.client().save();
  await rig.master.kill9();
  await rig.waitForStatus('the standby attached', (s) => s.failover?.step === 'syncing');
  await rig.master.restart();
  const switched = await rig.waitForStatus(
    'the switch (draining)',
    (s) => s.failover?.step === 'switched',
  );
  assert.equal(switched.epoch, before.epoch + 1);
  assert.equal(switched.active, rig.standby.address);

  await rig.crash();
  assert.ok((await rig.active.client().dbsize()) > 0, 'not flushed before the crash');
  assert.equal(await flushallCalls(rig.active.client()), 0);
  await rig.restart();
  const resumed = await rig.status();
  assert.equal(resumed.epoch, before.epoch + 1, 'the epoch survived the restart');
  assert.equal(resumed.active, rig.standby.address, 'the new roles survived the restart');

  const status = await assertCycleCompleted(rig, before);
  const at = (step: string): number =>
    Date.parse(status.lastFailover?.timeline.find((entry) => entry.step === step)?.at ?? '');
  assert.ok(
    at('flushed') - at('switched') >= drainMs,
    'the restarted proxy still waited out the drain before flushing',
  );
});
