// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): the write guard, and the idle standby rbuddy holds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import type { SavedConfig } from '../../src/standby/persisted-state.js';
import {
  guardSettingsOf,
  REDIS_DEFAULTS,
  STALE_DATA_SETTING,
  WRITE_GUARD,
} from '../../src/standby/node-ops.js';
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

describe('FailoverEngine: the write guard and the held standby', () => {
  // Each node's own settings, different from each other and from Redis's defaults; a max-lag of
  // 0 turns Redis's min-replicas check off, so guarding min-replicas-to-write alone would not do.
  const A_OWN = {
    'min-replicas-to-write': '3',
    'min-replicas-max-lag': '0',
    [STALE_DATA_SETTING]: 'yes',
  };
  const B_OWN = {
    'min-replicas-to-write': '2',
    'min-replicas-max-lag': '0',
    [STALE_DATA_SETTING]: 'yes',
  };
  const held = (own: SavedConfig): SavedConfig => ({ ...own, [STALE_DATA_SETTING]: 'no' });

  /** Healthy, as written before the standby was guarded: no standbySavedConfig at all. */
  function unguardedState(): PersistedState {
    const { version, epoch, active, standby, activeHoldsData, failover, lastFailover } =
      healthyState();
    return { version, epoch, active, standby, activeHoldsData, failover, lastFailover };
  }

  test('the idle standby is held once its settings are on disk; they survive restarts and come back exactly when it becomes the active', async () => {
    const dir = await stateDir(unguardedState());
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ keys: 1000, runId: 'run-a', config: { ...A_OWN } }),
      // The former layout: an idle master.
      [B.id]: idleMasterModel({ runId: 'run-b', config: { ...B_OWN } }),
    });
    const savedWhenHeld: unknown[] = [];
    ops.before('makeIdleStandby', (node) => {
      if (node.id === B.id) savedWhenHeld.push(onDisk(dir).standbySavedConfig);
    });
    const first = await healthyEngine({ dir, ops });
    await waitFor(() => savedWhenHeld.length === 1, { what: 'the standby held', ...WAIT });
    assert.deepEqual(ops.model(B.id).config, held(B_OWN));
    assert.equal(ops.model(B.id).role, 'slave');
    assert.ok(ops.model(B.id).followsProxy, 'a replica of the announce address');
    assert.deepEqual(savedWhenHeld, [B_OWN], 'its own settings were on disk first');
    await stopEngine(first);

    // A new process: the standby is still held, nothing is read again.
    const second = await healthyEngine({ dir, ops });
    await waitTicks(second, 3);
    assert.deepEqual(onDisk(dir).standbySavedConfig, B_OWN);
    assert.equal(savedWhenHeld.length, 1, 'nothing done to a held standby');
    // The standby restarts without its REPLICAOF: an empty master with its own settings. Held
    // again, and what is on disk stays its own settings (never re-read: they are known).
    Object.assign(ops.model(B.id), { role: 'master', followsProxy: false, config: { ...B_OWN } });
    await waitFor(() => savedWhenHeld.length === 2, { what: 'held again', ...WAIT });
    assert.deepEqual(ops.model(B.id).config, held(B_OWN));
    assert.deepEqual(ops.callsOf('configGet'), [B.id]);
    await stopEngine(second);

    const third = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(third);
    await waitForAttached(third);
    assert.deepEqual(guardSettingsOf(ops.model(A.id).config), WRITE_GUARD, 'promoted: guarded');
    assert.deepEqual(onDisk(dir).failover?.savedConfig, A_OWN);
    masterBack(third);
    finishSync(third, B, 990);
    const done = await waitForCompleted(dir);
    // Its replica-serve-stale-data too: it serves stale reads if the master goes away.
    assert.deepEqual(ops.model(B.id).config, B_OWN, 'the new active has its own settings back');
    assert.deepEqual(ops.model(A.id).config, held(A_OWN), 'the new standby is held');
    assert.deepEqual(done.standbySavedConfig, A_OWN, 'its own settings kept for later');
  });

  test('a state file from before replica-serve-stale-data was saved: the node’s own is added', async () => {
    const old = { 'min-replicas-to-write': '2', 'min-replicas-max-lag': '0' };
    const dir = await stateDir({ ...healthyState(), standbySavedConfig: old });
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ keys: 1000, runId: 'run-a' }),
      [B.id]: idleMasterModel({
        runId: 'run-b',
        config: { ...WRITE_GUARD, [STALE_DATA_SETTING]: 'yes' },
      }),
    });
    const h = await healthyEngine({ dir, ops });
    await waitFor(() => ops.callsOf('makeIdleStandby').includes(B.id), { what: 'held', ...WAIT });
    assert.deepEqual(onDisk(dir).standbySavedConfig, { ...old, [STALE_DATA_SETTING]: 'yes' });
    // The guard of the former layout is lifted: its own write settings are back.
    assert.deepEqual(ops.model(B.id).config, { ...old, [STALE_DATA_SETTING]: 'no' });
    await stopEngine(h);
  });

  test('on first start the standby is held, never detached, its own settings saved first', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel(),
      [B.id]: replicaModel({ followsProxy: false, keys: 0, config: { ...B_OWN } }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => ops.callsOf('attach').includes(A.id), { what: 'attach-active', ...WAIT });
    finishSync(h, A, 1000);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    assert.equal(ops.model(B.id).role, 'slave', 'the standby not detached');
    assert.ok(ops.model(B.id).followsProxy, 'a replica of the announce address');
    assert.ok(!ops.callsOf('detach').includes(B.id));
    assert.deepEqual(ops.model(B.id).config, held(B_OWN));
    assert.deepEqual(onDisk(dir).standbySavedConfig, B_OWN);
  });

  test('a node holding our guard with nothing saved (a lost state dir): Redis defaults are kept, never the guard', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    ops.model(A.id).config = { ...WRITE_GUARD, [STALE_DATA_SETTING]: 'yes' };
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    assert.deepEqual(onDisk(dir).failover?.savedConfig, REDIS_DEFAULTS);
  });

  test('a held standby with nothing saved (a lost state dir): replica-serve-stale-data no is taken for ours, Redis’s default saved', async () => {
    const dir = await stateDir(unguardedState());
    const ops = healthyNodes();
    const h = await healthyEngine({ dir, ops });
    await waitFor(() => onDisk(dir).standbySavedConfig !== undefined, { what: 'saved', ...WAIT });
    assert.equal(onDisk(dir).standbySavedConfig?.[STALE_DATA_SETTING], 'yes');
    await stopEngine(h);
  });
});
