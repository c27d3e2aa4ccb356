// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): I2, a restart at any step resumes and only the persisted outgoing node is flushed,
// once, after the switch; the events of a switch survive a kill -9.
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type DurableSink, type RbuddyEvent } from '../../src/notify/events.js';
import type { DecideConfig } from '../../src/standby/decide.js';
import type { FailoverStep } from '../../src/standby/persisted-state.js';
import { STALE_DATA_SETTING } from '../../src/standby/node-ops.js';
import { FakeNodeOps, ORIGINAL_CONFIG } from '../helpers/fake-node-ops.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  A,
  B,
  stateDir,
  healthyState,
  healthyNodes,
  healthyEngine,
  loseMaster,
  waitForAttached,
  masterBack,
  finishSync,
  waitForStep,
  WAIT,
  waitTicks,
  diskStep,
  stopEngine,
  watchFlushes,
  startEngine,
  waitForCompleted,
  onDisk,
} from '../helpers/engine-harness.js';

interface CrashPoint {
  name: string;
  /** The persisted step the first process dies at. */
  step: FailoverStep;
  /** Config of the first process (the second uses the base config). */
  config?: Partial<DecideConfig>;
  /** What keeps the first process at that step (an operation failing), if anything. */
  block?: (ops: FakeNodeOps) => void;
  /** Whether the standby's sync finishes before the crash. */
  syncedBeforeCrash: boolean;
  standbyKeys: number;
  /** The crash comes after the flush (the process dies before it writes the state). */
  flushedBeforeCrash?: boolean;
}

const crashPoints: CrashPoint[] = [
  {
    name: 'promoting, before the active is promoted',
    step: 'promoting',
    block: (ops) => ops.failTimes('guardWrites', Infinity, 'crash: CONFIG SET', A.id),
    syncedBeforeCrash: false,
    standbyKeys: 990,
  },
  {
    name: 'promoting, the active promoted but the standby not yet attached',
    step: 'promoting',
    block: (ops) => ops.failTimes('attach', Infinity, 'crash: REPLICAOF', B.id),
    syncedBeforeCrash: false,
    standbyKeys: 990,
  },
  {
    name: 'syncing, the standby mid-sync',
    step: 'syncing',
    syncedBeforeCrash: false,
    standbyKeys: 990,
  },
  {
    name: 'held, waiting for an operator',
    step: 'held',
    syncedBeforeCrash: true,
    standbyKeys: 0,
  },
  {
    name: 'switched, draining',
    step: 'switched',
    config: { drainMs: 600_000 },
    syncedBeforeCrash: true,
    standbyKeys: 990,
  },
  {
    name: 'switched, between the switch and the flush',
    step: 'switched',
    block: (ops) => ops.failTimes('makeIdleStandby', Infinity, 'crash: MULTI/EXEC', A.id),
    syncedBeforeCrash: true,
    standbyKeys: 990,
  },
  {
    // Its clients killed, flushed and held in the transaction, the state not written (the
    // EXEC's reply lost, and nothing answers after it): the next process finds it the empty held
    // standby and never flushes it again.
    name: 'switched, between the transaction and the state write',
    step: 'switched',
    block: (ops) => {
      ops.after('makeIdleStandby', () => {
        throw new Error('crash: EXEC reply lost');
      });
      let kills = 0;
      ops.before('killClients', () => {
        kills += 1;
        if (kills > 1) throw new Error('crash: CLIENT KILL');
      });
    },
    syncedBeforeCrash: true,
    standbyKeys: 990,
    flushedBeforeCrash: true,
  },
];

describe('FailoverEngine: I2, a restart at any step carries on and flushes the right node once', () => {
  for (const crash of crashPoints) {
    test(crash.name, async () => {
      const dir = await stateDir(healthyState());
      const ops = healthyNodes();
      crash.block?.(ops);
      const first = await healthyEngine({ dir, ops, config: { graceMs: 30, ...crash.config } });
      loseMaster(first);
      if (crash.syncedBeforeCrash) {
        await waitForAttached(first);
        masterBack(first);
        finishSync(first, B, crash.standbyKeys);
      }
      await waitForStep(dir, crash.step);
      if (crash.block !== undefined) {
        await waitFor(() => /crash/.test(first.engine.status().lastError ?? ''), {
          what: 'the first process stuck on the blocked operation',
          ...WAIT,
        });
      }
      // It stays there (blocked, draining, waiting for the sync or an operator) …
      await waitTicks(first, 3);
      assert.equal(diskStep(dir), crash.step, 'the first process holds at the intended step');
      await stopEngine(first);
      assert.equal(diskStep(dir), crash.step, 'the first process died at the intended step');
      assert.deepEqual(
        ops.callsOf('flush'),
        crash.flushedBeforeCrash === true ? [A.id] : [],
        'flushed before the crash only where it crashed after the flush',
      );

      // The node models live on; the operations work again; a new process, a new proxy.
      const unblocked = ['guardWrites', 'attach', 'killClients', 'makeIdleStandby'] as const;
      for (const op of unblocked) ops.before(op, undefined);
      ops.after('makeIdleStandby', undefined);
      const flushViolations = watchFlushes(ops, dir);
      const second = await startEngine({ dir, ops });
      if (!crash.syncedBeforeCrash) {
        await waitForAttached(second);
        finishSync(second, B, crash.standbyKeys);
      }
      if (crash.step === 'held') {
        await waitFor(() => second.engine.state === 'held', {
          what: 'held after restart',
          ...WAIT,
        });
        // Until the standby's session is back through the new process, a confirm is refused.
        const early = second.engine.request('confirm');
        assert.ok(!early.accepted, 'no live session yet: refused');
        await waitFor(() => second.engine.state === 'failing-over', {
          what: 'back to syncing',
          ...WAIT,
        });
        second.proxy.stream(B);
        await waitFor(() => second.engine.state === 'held', { what: 'held again', ...WAIT });
        assert.deepEqual(second.engine.request('confirm'), { accepted: true });
      }
      if (crash.step === 'switched') {
        // Before the retire flushes A, the new active B streams through the new process (its
        // PSYNC gets +CONTINUE): I2, docs/design.md.
        second.proxy.stream(B);
      }
      const done = await waitForCompleted(dir);

      assert.deepEqual(ops.callsOf('flush'), [A.id], 'the outgoing node flushed exactly once');
      assert.deepEqual(flushViolations, []);
      assert.equal(done.epoch, 4, 'exactly one switch');
      assert.equal(done.active, B.id);
      assert.equal(done.standby, A.id);
      assert.equal(ops.model(A.id).keys, 0);
      // The old active is the held standby (a replica of the announce address, its own write
      // settings back, stale data off), its own settings kept on disk; the new active has its
      // own back.
      assert.equal(ops.model(A.id).role, 'slave');
      assert.ok(ops.model(A.id).followsProxy, 'a replica of the announce address');
      assert.deepEqual(
        ops.model(A.id).config,
        { ...ORIGINAL_CONFIG, [STALE_DATA_SETTING]: 'no' },
        'the new standby answers -MASTERDOWN / -READONLY',
      );
      assert.deepEqual(done.standbySavedConfig, ORIGINAL_CONFIG, 'the old active’s config kept');
      assert.deepEqual(ops.model(B.id).config, ORIGINAL_CONFIG, 'the new active’s config back');
      assert.equal(ops.model(B.id).keys, crash.standbyKeys, 'the new active kept its data');
      assert.ok(!ops.callsOf('guardWrites').includes(B.id));
      assert.ok(!ops.callsOf('detach').includes(B.id));
      const completed = [...first.events, ...second.events].filter(
        (event) => event.type === 'failover.completed',
      );
      assert.equal(completed.length, 1, 'one failover.completed across both processes');
      await waitFor(() => second.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    });
  }
});

describe('FailoverEngine: the events of a switch survive a kill -9 before the outbox has them', () => {
  test('saved with the new roles in one write; the next start sends them, same ids, once', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    // What a kill -9 leaves when it strikes as the outbox is about to store failover.completed:
    // the state file as it is at that instant, and an outbox without the event.
    const crashDir = await stateDir();
    const outbox: DurableSink = {
      // The engine waits for this before it touches the state file again.
      store: (event) =>
        event.type === 'failover.completed'
          ? copyFile(join(dir, 'state.json'), join(crashDir, 'state.json'))
          : Promise.resolve(),
    };
    const h = await healthyEngine({ dir, ops, durable: outbox, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    masterBack(h);
    finishSync(h, B, 990);
    await waitForCompleted(dir);
    await stopEngine(h);
    const emitted = h.events.filter((event) => event.type === 'failover.completed');
    assert.equal(emitted.length, 1);
    const [completed] = emitted;
    assert.ok(completed !== undefined);
    // The state the crash left: the new roles, and the events that announce them.
    const left = onDisk(crashDir);
    assert.equal(left.active, B.id);
    assert.equal(left.epoch, 4);
    assert.equal(left.failover?.step, 'switched');
    assert.deepEqual(
      left.unannounced?.map((event) => event.type),
      ['standby.synced', 'failover.completed'],
    );
    assert.deepEqual(
      left.unannounced?.find((event) => event.type === 'failover.completed'),
      completed,
      'the very event, same id and body',
    );
    // Once the outbox had them, the first process dropped them from its state.
    assert.deepEqual(onDisk(dir).unannounced, []);

    // The next process, from what the crash left: it sends them once, with the same ids.
    const stored: RbuddyEvent[] = [];
    const secondOutbox: DurableSink = {
      store(event) {
        stored.push(event);
        return Promise.resolve();
      },
    };
    const second = await startEngine({ dir: crashDir, ops, durable: secondOutbox });
    assert.deepEqual(
      stored.filter((event) => event.type === 'failover.completed'),
      [completed],
      'sent during load(), before the loop runs',
    );
    assert.deepEqual(onDisk(crashDir).unannounced, [], 'and no longer pending');
    // The new active's PSYNC gets +CONTINUE through the new process: the retire checks it streams.
    second.proxy.stream(B);
    await waitForCompleted(crashDir);
    await stopEngine(second);

    // A third start has nothing left to send.
    stored.length = 0;
    const third = await startEngine({ dir: crashDir, ops, durable: secondOutbox });
    await waitTicks(third, 1);
    assert.deepEqual(
      stored.filter((event) => event.type.startsWith('failover.')),
      [],
      'nothing sent again',
    );
  });

  test('an outbox that cannot store them: the failover goes on, and they stay for the next start', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const broken: DurableSink = {
      store: () => Promise.reject(new Error('ENOSPC: no space left on device')),
    };
    const h = await healthyEngine({ dir, ops, durable: broken, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    masterBack(h);
    finishSync(h, B, 990);
    const done = await waitForCompleted(dir);
    // Every event of a step saved with the state (a leader stopped between the save and its
    // outbox lost standby.attached before: reviewer round 4, F13).
    assert.deepEqual(
      done.unannounced?.map((event) => event.type),
      ['standby.attached', 'standby.synced', 'failover.completed', 'standby.ready'],
    );
    const completed = h.events.find((event) => event.type === 'failover.completed');
    const kept = done.unannounced?.find((event) => event.type === 'failover.completed');
    assert.equal(kept?.id, completed?.id);
  });
});

describe('FailoverEngine: one outage, one master.down, across a restart or a takeover', () => {
  test('resumed mid-failover with the master still lost: no second master.down; master.up when it returns', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const first = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(first);
    await waitForAttached(first);
    assert.deepEqual(
      first.events.filter((event) => event.type === 'master.down').length,
      1,
      'the outage announced once',
    );
    await stopEngine(first);

    // The next process (or the next leader) finds the failover begun on this outage.
    const second = await startEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(second);
    await waitTicks(second, 5);
    assert.deepEqual(
      second.events.filter((event) => event.type === 'master.down'),
      [],
      'no second master.down, under a new id, for the same outage',
    );
    masterBack(second);
    await waitFor(() => second.events.some((event) => event.type === 'master.up'), {
      what: 'master.up once the master answers again',
      ...WAIT,
    });
    await stopEngine(second);
  });
});
