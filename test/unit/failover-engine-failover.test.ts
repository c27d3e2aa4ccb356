// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): a whole unplanned failover (I3: the new roles are on disk before
// failover.completed), flapping, and the PSYNC gate (I1).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type EventSink, type RbuddyEvent } from '../../src/notify/events.js';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import { guardSettingsOf, STALE_DATA_SETTING, WRITE_GUARD } from '../../src/standby/node-ops.js';
import { FakeNodeOps, idleMasterModel, ORIGINAL_CONFIG } from '../helpers/fake-node-ops.js';
import { FakeProxy } from '../helpers/fake-proxy.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  stateDir,
  healthyState,
  healthyNodes,
  watchFlushes,
  onDisk,
  healthyEngine,
  loseMaster,
  waitForAttached,
  A,
  masterBack,
  finishSync,
  B,
  waitForCompleted,
  WAIT,
  psync,
  FULLRESYNC,
  waitTicks,
  waitForStep,
  INLINE_SYNC,
  startEngine,
  unstartedEngine,
} from '../helpers/engine-harness.js';

// ---- tests -------------------------------------------------------------------------------------

describe('FailoverEngine: a whole unplanned failover', () => {
  test('I3: failover.completed is emitted only once the state file names the new active', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const checks: string[] = [];
    let completedSeen: { disk: PersistedState; event: RbuddyEvent } | undefined;
    const sink: EventSink = {
      deliver(event) {
        const disk = onDisk(dir);
        if (event.type === 'failover.completed') completedSeen = { disk, event };
        // Every event's roles and epoch are those on disk when it is announced.
        if (disk.active !== event.data.active || disk.epoch !== event.epoch) {
          checks.push(
            `${event.type} announced ${event.data.active}@${event.epoch}, disk ${disk.active}@${disk.epoch}`,
          );
        }
      },
    };
    const h = await healthyEngine({ dir, ops, sink, config: { graceMs: 30 } });

    loseMaster(h);
    await waitForAttached(h);
    assert.equal(h.ops.model(A.id).role, 'master', 'the active was promoted');
    assert.deepEqual(guardSettingsOf(h.ops.model(A.id).config), WRITE_GUARD, 'writes guarded');
    masterBack(h);
    finishSync(h, B, 990);
    const done = await waitForCompleted(dir);
    // The completed state is saved first, then standby.ready announces it.
    await waitFor(() => h.events.some((event) => event.type === 'standby.ready'), {
      what: 'standby.ready',
      ...WAIT,
    });

    assert.ok(completedSeen !== undefined, 'failover.completed was emitted');
    assert.equal(completedSeen.disk.active, B.id);
    assert.equal(completedSeen.disk.standby, A.id);
    assert.equal(completedSeen.disk.epoch, 4);
    assert.equal(completedSeen.event.epoch, 4);
    assert.equal(completedSeen.event.data.active, B.id);
    assert.equal(completedSeen.disk.failover?.step, 'switched');
    assert.deepEqual(checks, []);

    const types = h.events.map((event) => event.type).filter((type) => !type.startsWith('master.'));
    assert.deepEqual(types, [
      'active.promoted',
      'standby.attached',
      'standby.synced',
      'failover.completed',
      'standby.ready',
    ]);
    assert.equal(h.events[0]?.type, 'master.down');

    // The old active is the new, empty standby, held (its own write settings back,
    // replica-serve-stale-data no: -MASTERDOWN, -READONLY), its own settings kept; flushed once.
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
    assert.deepEqual(ops.model(A.id).config, { ...ORIGINAL_CONFIG, [STALE_DATA_SETTING]: 'no' });
    assert.equal(ops.model(A.id).role, 'slave');
    assert.ok(ops.model(A.id).followsProxy, 'a replica of the announce address');
    assert.deepEqual(done.standbySavedConfig, ORIGINAL_CONFIG);
    // Its clients are killed before the transaction: none is left open to read -MASTERDOWN
    // between the EXEC and the kill, and one that reconnects before the EXEC reads the whole
    // dataset (the FLUSHALL is inside the EXEC), never the emptied node.
    const onA = ops
      .operations()
      .filter((call) => call.node === A.id)
      .map((call) => call.op);
    // (The fake records the FLUSHALL inside the transaction right after it.)
    assert.deepEqual(onA.slice(-3), ['killClients', 'makeIdleStandby', 'flush']);
    assert.equal(ops.model(A.id).keys, 0);
    assert.equal(ops.model(B.id).keys, 990);
    // The new active has its own settings back.
    assert.deepEqual(ops.model(B.id).config, ORIGINAL_CONFIG);
    assert.ok(!ops.callsOf('guardWrites').includes(B.id), 'the incoming node is never guarded');
    assert.ok(!ops.callsOf('detach').includes(B.id), 'nor detached');
    assert.deepEqual(
      done.lastFailover?.timeline.map((entry) => entry.step),
      ['started', 'standby-attached', 'synced', 'switched', 'flushed', 'standby-ready'],
    );
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy again', ...WAIT });
    assert.deepEqual(h.engine.roles(), { active: B.id, standby: A.id });

    // The gate now protects B, the new active; A, the idle standby, is held: its sync waits
    // for the next failover (a snapshot answered to a sync begun before the hold is refused).
    assert.equal(psync(h, B, FULLRESYNC), 'close');
    assert.equal(psync(h, A, FULLRESYNC), 'close');
  });
});

describe('FailoverEngine: flapping', () => {
  test('the master flapping and full resync demands during a failover never start a second one', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    const id = onDisk(dir).failover?.id;
    assert.ok(id !== undefined);

    for (let flap = 0; flap < 5; flap += 1) {
      masterBack(h);
      await waitTicks(h, 1);
      loseMaster(h);
      h.proxy.connect(A);
      h.proxy.loseUpstream(A, 'connection reset by the master');
      // The promoted active is not a replica any more, but a late PSYNC of it must not matter.
      assert.equal(psync(h, A, FULLRESYNC), 'close');
      await waitTicks(h, 2);
      assert.equal(onDisk(dir).failover?.id, id, `flap ${flap}: the same failover`);
      assert.equal(onDisk(dir).epoch, 3);
    }
    masterBack(h);
    finishSync(h, B, 990);
    const done = await waitForCompleted(dir);
    assert.equal(done.lastFailover?.id, id);
    assert.equal(done.epoch, 4, 'one switch');
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
    assert.equal(h.events.filter((event) => event.type === 'failover.completed').length, 1);
  });
});

describe('FailoverEngine: the PSYNC gate (I1)', () => {
  test('a FULLRESYNC for the active that holds data closes it and fails over at once', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    // Inside a 60 s grace period, with the master probe happy: at once all the same.
    await waitFor(() => onDisk(dir).failover !== null, { what: 'a failover record', ...WAIT });
    const record = onDisk(dir).failover;
    assert.equal(record?.kind, 'unplanned');
    assert.match(record?.reason ?? '', /full resync/);
    await waitForStep(dir, 'syncing');
    assert.equal(h.ops.model(A.id).role, 'master', 'the active was promoted, not resynced');
  });

  test('a snapshot after an inline SYNC for the active that holds data: the same gate', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });
    assert.equal(psync(h, A, INLINE_SYNC), 'close');
    await waitFor(() => onDisk(dir).failover !== null, { what: 'a failover record', ...WAIT });
    assert.match(onDisk(dir).failover?.reason ?? '', /full resync/);
    await waitForStep(dir, 'syncing');
    assert.equal(h.ops.model(A.id).role, 'master', 'the active was promoted, not resynced');
  });

  test('a FULLRESYNC for the held idle standby is closed and changes nothing', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });
    assert.equal(psync(h, B, FULLRESYNC), 'close');
    assert.equal(psync(h, B, INLINE_SYNC), 'close');
    await waitTicks(h, 3);
    assert.equal(onDisk(dir).failover, null);
    assert.equal(h.engine.state, 'healthy');
  });

  test('on first start (the active holds nothing yet) a FULLRESYNC for the active is relayed', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel({ runId: 'run-a' }),
      [B.id]: idleMasterModel({ runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => ops.callsOf('attach').includes(A.id), { what: 'attach-active', ...WAIT });
    assert.equal(psync(h, A, FULLRESYNC), 'relay');
    finishSync(h, A, 1000);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    assert.equal(onDisk(dir).activeHoldsData, true);
    // From now on I1 protects it.
    assert.equal(psync(h, A, FULLRESYNC), 'close');
  });

  test('with a corrupt state file, or before the state is read, every FULLRESYNC is refused', async () => {
    const dir = await stateDir('{"version":1,"epoch":');
    const proxy = new FakeProxy();
    const h = await startEngine({ dir, ops: healthyNodes() });
    assert.equal(h.engine.gate(proxy.connect(A), FULLRESYNC), 'close');
    assert.equal(h.engine.gate(proxy.connect(B), FULLRESYNC), 'close');
    assert.equal(h.engine.gate(proxy.connect(B), INLINE_SYNC), 'close');

    const unread = unstartedEngine(await stateDir(healthyState()), proxy);
    assert.equal(unread.gate(proxy.connect(B), FULLRESYNC), 'close', 'not started yet');
  });

  test("the outgoing active's PSYNC answered FULLRESYNC after the switch is closed, not relayed", async () => {
    // Found by the chaos run (seed 1772499684): the old active's PSYNC, sent while it was the
    // active, was answered after the switch had made it the outgoing node; relayed, the snapshot
    // flushed the last copy of the data (the new active had just been killed).
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30, drainMs: 60_000 } });
    loseMaster(h);
    await waitForAttached(h);
    masterBack(h);
    finishSync(h, B, 990);
    await waitForStep(dir, 'switched');
    assert.equal(onDisk(dir).active, B.id);
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    assert.equal(psync(h, A, INLINE_SYNC), 'close');
    await waitTicks(h, 3);
    assert.equal(onDisk(dir).failover?.step, 'switched', 'nothing else changed');
    assert.deepEqual(ops.callsOf('flush'), [], 'the drain is not over: nothing flushed');
    assert.deepEqual(flushViolations, []);
  });
});
