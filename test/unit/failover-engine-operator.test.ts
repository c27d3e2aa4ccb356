// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): operator requests, and a held switch verified again before it is confirmed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { STALE_DATA_SETTING } from '../../src/standby/node-ops.js';
import { ORIGINAL_CONFIG } from '../helpers/fake-node-ops.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  stateDir,
  healthyState,
  healthyEngine,
  healthyNodes,
  loseMaster,
  WAIT,
  waitTicks,
  onDisk,
  watchFlushes,
  waitForAttached,
  A,
  finishSync,
  B,
  waitForCompleted,
  heldEngine,
  waitForStep,
  Harness,
  diskStep,
} from '../helpers/engine-harness.js';

describe('FailoverEngine: operator requests', () => {
  test('confirm and abort outside held, failover outside healthy: refused, naming the state', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });

    for (const request of ['confirm', 'abort'] as const) {
      const answer = h.engine.request(request);
      assert.equal(answer.accepted, false);
      assert.ok(!answer.accepted, 'narrowing');
      assert.match(answer.reason, /held failover; the state is healthy/);
    }

    loseMaster(h);
    await waitFor(() => h.engine.state === 'master-lost', { what: 'master-lost', ...WAIT });
    const lost = h.engine.request('failover');
    assert.ok(!lost.accepted, 'refused');
    assert.match(lost.reason, /the state is master-lost/);
    await waitTicks(h, 3);
    assert.equal(onDisk(dir).failover, null, 'no failover started');
  });

  test('failover when healthy: a planned switch; nothing promoted; one pending request at a time', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const h = await healthyEngine({ dir, ops });

    assert.deepEqual(h.engine.request('failover'), { accepted: true });
    const again = h.engine.request('failover');
    assert.ok(!again.accepted, 'a second request while one is pending');
    await waitForAttached(h);
    assert.equal(onDisk(dir).failover?.kind, 'planned');
    assert.equal(h.engine.status().lastOperatorRequest?.outcome, 'carried-out');
    assert.equal(ops.model(A.id).role, 'slave', 'a planned switch keeps the active replicating');
    assert.deepEqual(ops.callsOf('guardWrites'), []);

    const during = h.engine.request('failover');
    assert.ok(!during.accepted, 'no failover during a failover');
    const confirm = h.engine.request('confirm');
    assert.ok(!confirm.accepted, 'nothing to confirm while syncing');

    finishSync(h, B, 1000);
    await waitForCompleted(dir);
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
    // Guarded and detached only after the switch (a replica refuses FLUSHALL), then flushed and
    // made the held standby in one transaction: its own write settings back, stale data off.
    assert.deepEqual(ops.callsOf('guardWrites'), [A.id]);
    assert.deepEqual(ops.callsOf('detach'), [A.id]);
    assert.equal(ops.model(A.id).role, 'slave');
    assert.ok(ops.model(A.id).followsProxy, 'a replica of the announce address');
    assert.deepEqual(ops.model(A.id).config, { ...ORIGINAL_CONFIG, [STALE_DATA_SETTING]: 'no' });
    assert.deepEqual(onDisk(dir).standbySavedConfig, ORIGINAL_CONFIG);
  });

  test('a request the state overtakes before it runs: dropped, logged, and shown in status', async () => {
    const dir = await stateDir(healthyState());
    const logs: { msg: string; request?: string }[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
    );
    const h = await healthyEngine({
      dir,
      ops: healthyNodes(),
      config: { graceMs: 60_000 },
      logger,
    });

    assert.deepEqual(h.engine.request('failover'), { accepted: true });
    assert.equal(h.engine.status().lastOperatorRequest?.outcome, 'pending');
    // Before the loop's next round: the master goes away.
    loseMaster(h);
    const record = await waitFor(
      () => {
        const last = h.engine.status().lastOperatorRequest;
        return last?.outcome === 'pending' ? undefined : last;
      },
      { what: 'the request settled', ...WAIT },
    );
    assert.equal(record.request, 'failover');
    assert.equal(record.outcome, 'dropped');
    assert.match(
      record.reason ?? '',
      /^the state became master-lost before it ran: master unreachable/,
    );
    assert.equal(h.engine.state, 'master-lost');
    assert.equal(onDisk(dir).failover, null, 'no planned failover began');
    assert.ok(
      logs.some(
        (line) =>
          line.msg.startsWith('operator failover request dropped') && line.request === 'failover',
      ),
      'a warning says so',
    );
  });

  test('held: abort keeps the active and flushes nothing; a new failover request resumes', async () => {
    const { h, flushViolations } = await heldEngine();
    const { dir, ops } = h;

    assert.deepEqual(h.engine.request('abort'), { accepted: true });
    await waitForStep(dir, 'aborted');
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded (aborted)', ...WAIT });
    assert.equal(onDisk(dir).active, A.id);
    assert.equal(ops.model(A.id).keys, 1000);
    // Held again, not detached: as a master it would answer reads from a copy nobody updates.
    assert.equal(ops.model(B.id).role, 'slave', 'the standby not detached');
    assert.equal(ops.model(B.id).config[STALE_DATA_SETTING], 'no', 'held: -MASTERDOWN');
    assert.ok(!ops.callsOf('detach').includes(B.id), 'the standby never detached');
    assert.deepEqual(ops.callsOf('flush'), []);

    assert.deepEqual(h.engine.request('failover'), { accepted: true });
    await waitForAttached(h);
    finishSync(h, B, 1000);
    const done = await waitForCompleted(dir);
    assert.equal(done.active, B.id);
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
  });
});

describe('FailoverEngine: a held switch is verified again before it is confirmed', () => {
  /** B's redis-server restarts: a new process, an empty master, its runtime settings gone. */
  function restartStandby(h: Harness): void {
    Object.assign(h.ops.model(B.id), {
      role: 'master',
      followsProxy: false,
      linkUp: false,
      keys: 0,
      runId: 'run-b2',
      config: { ...ORIGINAL_CONFIG },
    });
    h.proxy.sessionFor(B.id)?.close('replica-hangup');
  }

  function assertNothingSwitched(h: Harness, flushViolations: string[]): void {
    const disk = onDisk(h.dir);
    assert.equal(disk.epoch, 3, 'no switch');
    assert.equal(disk.active, A.id);
    assert.deepEqual(h.ops.callsOf('flush'), [], 'nothing flushed');
    assert.deepEqual(flushViolations, []);
    assert.equal(h.ops.model(A.id).keys, 1000, 'the active keeps its keys');
    assert.ok(!h.events.some((event) => event.type === 'failover.completed'));
  }

  test('the standby restarted: a confirm is refused, back to waiting for its sync; synced again, held for the new process', async () => {
    const { h, flushViolations } = await heldEngine();
    restartStandby(h);
    const answer = h.engine.request('confirm');
    assert.ok(!answer.accepted, 'refused');
    assert.match(answer.reason, /^confirm refused: .*10\.0\.0\.6:6379/);
    await waitFor(() => h.events.some((event) => event.type === 'failover.failed'), {
      what: 'back to syncing, announced',
      ...WAIT,
    });
    assert.equal(diskStep(h.dir), 'syncing');
    assertNothingSwitched(h, flushViolations);
    const resync = onDisk(h.dir).failover?.timeline.at(-1);
    assert.equal(resync?.step, 'resync');
    assert.match(resync?.detail ?? '', /^confirm refused/);
    // Refused and not pending: the operator may ask again once it is held again.
    assert.equal(h.engine.status().lastOperatorRequest, null);

    // The failover goes on: the standby is attached again, syncs, and is held again for the
    // new process, whose confirm then switches.
    await waitFor(() => h.ops.model(B.id).role === 'slave', { what: 're-attached', ...WAIT });
    finishSync(h, B, 0);
    await waitFor(() => h.engine.state === 'held', { what: 'held again', ...WAIT });
    assert.equal(onDisk(h.dir).failover?.syncedRunId, 'run-b2');
    assert.equal(h.events.filter((event) => event.type === 'failover.held').length, 2);
    assert.deepEqual(h.engine.request('confirm'), { accepted: true });
    const done = await waitForCompleted(h.dir);
    assert.equal(done.active, B.id);
    assert.deepEqual(h.ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
  });

  test('a confirm accepted, then the standby restarts before the loop acts: the loop refuses it, nothing switched', async () => {
    const { h, flushViolations } = await heldEngine();
    assert.deepEqual(h.engine.request('confirm'), { accepted: true });
    // In the same turn, before the loop's next round observes anything.
    restartStandby(h);
    await waitFor(() => h.engine.state === 'failing-over', { what: 'back to syncing', ...WAIT });
    assertNothingSwitched(h, flushViolations);
    const record = h.engine.status().lastOperatorRequest;
    assert.equal(record?.outcome, 'dropped');
    assert.match(record?.reason ?? '', /confirm refused: the standby 10\.0\.0\.6:6379 restarted/);
  });

  test('held without a confirm: a standby that restarted is not held on to, the failover waits for its sync', async () => {
    const { h, flushViolations } = await heldEngine();
    restartStandby(h);
    await waitFor(() => h.engine.state === 'failing-over', { what: 'back to syncing', ...WAIT });
    assert.equal(diskStep(h.dir), 'syncing');
    assertNothingSwitched(h, flushViolations);
    assert.match(
      onDisk(h.dir).failover?.timeline.at(-1)?.detail ?? '',
      /^the standby 10\.0\.0\.6:6379 restarted since it synced \(run_id run-b2, not run-b\)/,
    );
  });
});
