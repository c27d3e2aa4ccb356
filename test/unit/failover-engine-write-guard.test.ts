// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): the write guard on the standby.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import { REDIS_DEFAULTS, WRITE_GUARD } from '../../src/standby/node-ops.js';
import { FakeNodeOps, idleMasterModel, replicaModel } from '../helpers/fake-node-ops.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  healthyState,
  stateDir,
  A,
  B,
  onDisk,
  healthyEngine,
  WAIT,
  stopEngine,
  waitTicks,
  loseMaster,
  waitForAttached,
  masterBack,
  finishSync,
  waitForCompleted,
  startEngine,
  healthyNodes,
} from '../helpers/engine-harness.js';

describe('FailoverEngine: the write guard', () => {
  // Each node's own settings, different from each other and from Redis's defaults; a max-lag of
  // 0 turns Redis's min-replicas check off, so guarding min-replicas-to-write alone would not do.
  const A_OWN = { 'min-replicas-to-write': '3', 'min-replicas-max-lag': '0' };
  const B_OWN = { 'min-replicas-to-write': '2', 'min-replicas-max-lag': '0' };

  /** Healthy, as written before the standby was guarded: no standbySavedConfig at all. */
  function unguardedState(): PersistedState {
    const { version, epoch, active, standby, activeHoldsData, failover, lastFailover } =
      healthyState();
    return { version, epoch, active, standby, activeHoldsData, failover, lastFailover };
  }

  test('the idle standby is guarded once its settings are on disk; they survive restarts and come back exactly when it becomes the active', async () => {
    const dir = await stateDir(unguardedState());
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ keys: 1000, runId: 'run-a', config: { ...A_OWN } }),
      [B.id]: idleMasterModel({ runId: 'run-b', config: { ...B_OWN } }),
    });
    const savedWhenGuarded: unknown[] = [];
    ops.before('guardWrites', (node) => {
      if (node.id === B.id) savedWhenGuarded.push(onDisk(dir).standbySavedConfig);
    });
    const first = await healthyEngine({ dir, ops });
    await waitFor(() => ops.model(B.id).config['min-replicas-max-lag'] !== '0', {
      what: 'the standby guarded',
      ...WAIT,
    });
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD);
    assert.deepEqual(savedWhenGuarded, [B_OWN], 'its own settings were on disk first');
    await stopEngine(first);

    // A new process: the standby is still guarded, nothing is read again.
    const second = await healthyEngine({ dir, ops });
    await waitTicks(second, 3);
    assert.deepEqual(onDisk(dir).standbySavedConfig, B_OWN);
    // The standby restarts: its runtime settings are its own again. Guarded again, and what is
    // on disk stays its own settings (never re-read: they are known).
    ops.model(B.id).config = { ...B_OWN };
    await waitFor(() => savedWhenGuarded.length === 2, { what: 'guarded again', ...WAIT });
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD);
    assert.deepEqual(ops.callsOf('configGet'), [B.id]);
    await stopEngine(second);

    const third = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(third);
    await waitForAttached(third);
    assert.deepEqual(ops.model(A.id).config, WRITE_GUARD, 'the promoted active refuses writes');
    assert.deepEqual(onDisk(dir).failover?.savedConfig, A_OWN);
    masterBack(third);
    finishSync(third, B, 990);
    const done = await waitForCompleted(dir);
    assert.deepEqual(ops.model(B.id).config, B_OWN, 'the new active has its own settings back');
    assert.deepEqual(ops.model(A.id).config, WRITE_GUARD, 'the new standby refuses writes');
    assert.deepEqual(done.standbySavedConfig, A_OWN, 'its own settings kept for later');
  });

  test('on first start the standby is guarded, its own settings saved first', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel(),
      [B.id]: replicaModel({ followsProxy: false, keys: 0, config: { ...B_OWN } }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => ops.callsOf('attach').includes(A.id), { what: 'attach-active', ...WAIT });
    finishSync(h, A, 1000);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    assert.equal(ops.model(B.id).role, 'master', 'the standby detached');
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD);
    assert.deepEqual(onDisk(dir).standbySavedConfig, B_OWN);
  });

  test('a node holding our guard with nothing saved (a lost state dir): Redis defaults are kept, never the guard', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    ops.model(A.id).config = { ...WRITE_GUARD };
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    assert.deepEqual(onDisk(dir).failover?.savedConfig, REDIS_DEFAULTS);
  });
});
