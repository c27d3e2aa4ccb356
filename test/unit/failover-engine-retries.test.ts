// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): failures are retried with backoff and visible (I4); start and stop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { RetryPolicy } from '../../src/retry-policy.js';
import { FailoverEngine } from '../../src/standby/engine.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  stateDir,
  healthyState,
  healthyNodes,
  healthyEngine,
  psync,
  A,
  FULLRESYNC,
  waitForStep,
  WAIT,
  finishSync,
  B,
  waitForCompleted,
  loseMaster,
  unstartedEngine,
  stopEngine,
} from '../helpers/engine-harness.js';
import { FakeNodeOps, heldStandbyModel, replicaModel } from '../helpers/fake-node-ops.js';

describe('FailoverEngine: failures are retried with backoff and visible (I4)', () => {
  test('an operation failing 3 times: retry policy consulted, lastError shown and logged, then success', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const logs: { msg: string; attempt?: number; err?: { message: string } }[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
    );
    const attempts: [number, string][] = [];
    const retry: RetryPolicy = (attempt, cause) => {
      attempts.push([attempt, cause instanceof Error ? cause.message : String(cause)]);
      return 10;
    };
    // The hook runs inside the engine's tick: it reads the status the operator would see.
    const seen: { engine?: FailoverEngine } = {};
    const lastErrorAtCall: (string | null)[] = [];
    ops.before('guardWrites', (_node, call) => {
      lastErrorAtCall.push(seen.engine?.status().lastError ?? null);
      if (call <= 3) throw new Error(`CONFIG SET timed out after 1000 ms (call ${call})`);
    });
    const h = await healthyEngine({ dir, ops, retry, logger });
    seen.engine = h.engine;

    psync(h, A, FULLRESYNC);
    await waitForStep(dir, 'syncing');
    await waitFor(() => h.engine.status().lastError === null, {
      what: 'lastError cleared',
      ...WAIT,
    });

    assert.deepEqual(attempts, [
      [0, 'CONFIG SET timed out after 1000 ms (call 1)'],
      [1, 'CONFIG SET timed out after 1000 ms (call 2)'],
      [2, 'CONFIG SET timed out after 1000 ms (call 3)'],
    ]);
    assert.deepEqual(lastErrorAtCall, [
      null,
      'CONFIG SET timed out after 1000 ms (call 1)',
      'CONFIG SET timed out after 1000 ms (call 2)',
      'CONFIG SET timed out after 1000 ms (call 3)',
    ]);
    const retries = logs.filter((line) => line.msg === 'failover step failed; retrying');
    assert.deepEqual(
      retries.map((line) => [line.attempt, line.err?.message]),
      [1, 2, 3].map((n) => [n, `CONFIG SET timed out after 1000 ms (call ${n})`]),
    );
    assert.equal(ops.model(A.id).role, 'master', 'promoted in the end');

    // A later failure starts a new series: the policy sees attempt 0 again.
    ops.failTimes('killClients', 2, 'CLIENT KILL timed out after 1000 ms');
    finishSync(h, B, 990);
    await waitForCompleted(dir);
    assert.deepEqual(attempts.slice(3), [
      [0, 'CLIENT KILL timed out after 1000 ms'],
      [1, 'CLIENT KILL timed out after 1000 ms'],
    ]);
  });

  test('a promotion retried while the standby cannot be attached announces active.promoted once', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    ops.failTimes('attach', 4, 'connect ECONNREFUSED 10.0.0.6:6379', B.id);
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForStep(dir, 'syncing');
    assert.ok(ops.callsOf('attach').filter((id) => id === B.id).length >= 5, 'attach retried');
    const promoted = h.events.filter((event) => event.type === 'active.promoted');
    assert.equal(promoted.length, 1, 'one active.promoted, however many retries');
  });
});

describe('FailoverEngine: start and stop', () => {
  test('the persisted epoch and roles are known after load(), before the loop runs', async () => {
    const dir = await stateDir({ ...healthyState(), epoch: 7, active: B.id, standby: A.id });
    // The nodes as that state has them (B the active with the data, A the held standby).
    const ops = new FakeNodeOps({
      [A.id]: heldStandbyModel({ runId: 'run-a' }),
      [B.id]: replicaModel({ keys: 1000, runId: 'run-b' }),
    });
    const engine = unstartedEngine(dir, undefined, ops);
    await engine.load();
    const status = engine.status();
    assert.equal(status.epoch, 7);
    assert.deepEqual(engine.roles(), { active: B.id, standby: A.id });
    assert.equal(engine.ready(), false, 'not ready before the loop has seen the active');
    assert.equal(engine.stopping, false);
  });

  test('ready() turns false at the first moment of a shutdown, before stop() resolves', async () => {
    const h = await healthyEngine({ dir: await stateDir(healthyState()), ops: healthyNodes() });
    await waitFor(() => h.engine.ready(), { what: 'ready', ...WAIT });
    assert.equal(h.engine.stopping, false);
    const stopped = stopEngine(h);
    assert.equal(h.engine.ready(), false);
    assert.equal(h.engine.stopping, true);
    await stopped;
    assert.equal(h.engine.ready(), false);
  });
});
