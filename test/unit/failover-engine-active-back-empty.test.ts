// The real FailoverEngine (test/helpers/engine-harness.ts) with an active that restarts empty
// while the state cannot be written (disk full, read-only, etcd refusing): the node is held at
// once (errors, never nils; its sync answered -NOMASTERLINK from the first attempt), its own
// settings kept in memory until the failover record is on disk, the status says what is going on
// (never `healthy`), and once the state can be written the failover goes on as any other. Also:
// a restart of rbuddy in between (the memory lost), and the HA fence (docs/design.md, "Roles and
// states", the held active).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StateWriteError } from '../../src/errors.js';
import { STALE_DATA_SETTING } from '../../src/standby/node-ops.js';
import { ACTIVE_HELD, type PersistedState } from '../../src/standby/persisted-state.js';
import { StateFile } from '../../src/standby/state-file.js';
import type { LoadResult, StateStore } from '../../src/standby/state-store.js';
import type { SavedConfig } from '../../src/standby/persisted-state.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  A,
  B,
  WAIT,
  diskStep,
  finishSync,
  healthyEngine,
  healthyNodes,
  healthyState,
  masterBack,
  loseMaster,
  onDisk,
  startEngine,
  stateDir,
  stopEngine,
  waitForAttached,
  waitForCompleted,
  waitTicks,
  watchFlushes,
  type Harness,
} from '../helpers/engine-harness.js';
import type { FakeNodeOps } from '../helpers/fake-node-ops.js';

/** The real state file, whose writes fail while `writable` is false (reads still work). */
class SwitchableStore implements StateStore {
  writable = true;
  failedWrites = 0;
  private readonly inner: StateFile;

  constructor(dir: string) {
    this.inner = new StateFile(dir);
  }

  get file(): string {
    return this.inner.file;
  }

  load(): Promise<LoadResult> {
    return this.inner.load();
  }

  async save(state: PersistedState): Promise<void> {
    if (!this.writable) {
      this.failedWrites += 1;
      throw new StateWriteError(`cannot write ${this.file}: ENOSPC: no space left on device`);
    }
    await this.inner.save(state);
  }
}

/** What the held active's own settings are in each case (its config file's, say). */
const OWN_YES: SavedConfig = {
  'min-replicas-to-write': '0',
  'min-replicas-max-lag': '7',
  [STALE_DATA_SETTING]: 'yes',
};
const OWN_NO: SavedConfig = { ...OWN_YES, [STALE_DATA_SETTING]: 'no' };

/** A (the active) was killed and restarted without its dataset: an empty master, its own config. */
function restartEmpty(h: Harness, own: SavedConfig): void {
  h.proxy.sessionFor(A.id)?.close('replica-hangup');
  Object.assign(h.ops.model(A.id), {
    role: 'master',
    followsProxy: false,
    linkUp: false,
    syncInProgress: false,
    keys: 0,
    runId: 'run-a-restarted',
    config: { ...own },
  });
}

async function healthyWithStore(
  options: { mayAct?: () => boolean; graceMs?: number } = {},
): Promise<{ h: Harness; store: SwitchableStore; ops: FakeNodeOps; flushes: string[] }> {
  const dir = await stateDir(healthyState());
  const ops = healthyNodes();
  const flushes = watchFlushes(ops, dir);
  const store = new SwitchableStore(dir);
  const h = await healthyEngine({
    dir,
    ops,
    config: { graceMs: options.graceMs ?? 60_000 },
    patch: (engine) => ({
      ...engine,
      store,
      ...(options.mayAct === undefined ? {} : { mayAct: options.mayAct }),
    }),
  });
  // The healthy round recorded the active's run_id: a restart shows as another one.
  await waitFor(() => onDisk(dir).activeRunId === 'run-a', { what: 'run_id recorded', ...WAIT });
  return { h, store, ops, flushes };
}

/** The switch to B completes: B syncs with the master's data; A, held and empty, is retired. */
async function completeFailover(h: Harness): Promise<PersistedState> {
  await waitForAttached(h);
  finishSync(h, B, 1000);
  return waitForCompleted(h.dir);
}

describe('FailoverEngine: an active back empty while the state cannot be written', () => {
  for (const own of [OWN_YES, OWN_NO]) {
    test(`held at once, reported, then failed over with its own settings (replica-serve-stale-data ${own[STALE_DATA_SETTING]})`, async () => {
      const { h, store, ops, flushes } = await healthyWithStore();
      // The proxy must hold the node's sync before the REPLICAOF that makes it ask for one.
      const syncHeldAtHold: boolean[] = [];
      ops.before('makeIdleStandby', (node) => {
        if (node.id === A.id) syncHeldAtHold.push(h.engine.holdsSync(A.id));
      });
      store.writable = false;
      const announced = h.events.length;
      restartEmpty(h, own);

      await waitFor(() => ops.callsOf('makeIdleStandby').includes(A.id), {
        what: 'the empty active held',
        ...WAIT,
      });
      assert.deepEqual(syncHeldAtHold, [true], 'its sync held from before the REPLICAOF');
      const model = ops.model(A.id);
      assert.equal(model.role, 'slave');
      assert.equal(model.config[STALE_DATA_SETTING], 'no', 'reads answer -MASTERDOWN');
      assert.equal(model.config['min-replicas-max-lag'], '7', 'its own write-guard settings');
      assert.equal(h.engine.holdsSync(A.id), true);

      await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
      const failed = store.failedWrites;
      // Rounds go on failing; the state never says healthy meanwhile, nor is anything recorded.
      const states: string[] = [];
      ops.before('view', () => states.push(h.engine.state));
      await waitFor(() => store.failedWrites >= failed + 3, {
        what: 'three more failed writes',
        ...WAIT,
      });
      ops.before('view', undefined);
      assert.deepEqual([...new Set(states)], ['degraded'], 'degraded all along');
      const status = h.engine.status();
      assert.match(status.reason ?? '', /active 10\.0\.0\.5:6379 came back empty and is held/);
      assert.match(status.reason ?? '', /cannot write .*state\.json: ENOSPC/);
      assert.equal(status.failover, null);
      assert.equal(h.engine.holdsSync(A.id), true, 'still held');
      assert.match(h.engine.notReady() ?? '', /came back empty and is held/, 'not ready (/readyz)');
      assert.deepEqual(ops.callsOf('makeIdleStandby'), [A.id], 'held once, not at every retry');
      for (const op of ['attach', 'detach', 'guardWrites', 'flush', 'killClients'] as const) {
        assert.deepEqual(ops.callsOf(op), [], `no ${op} while the state cannot be written`);
      }
      assert.deepEqual(h.events.slice(announced), [], 'nothing announced that is not on disk');

      store.writable = true;
      await waitFor(() => diskStep(h.dir) === 'syncing', {
        what: 'the failover recorded',
        ...WAIT,
      });
      const record = onDisk(h.dir).failover;
      assert.deepEqual(record?.savedConfig, own, 'its own settings, not the held ones');
      assert.ok(record?.timeline.some((entry) => entry.step === ACTIVE_HELD));
      assert.equal(h.engine.holdsSync(A.id), true, 'held by the record now');

      const done = await completeFailover(h);
      assert.equal(done.active, B.id);
      assert.deepEqual(done.standbySavedConfig, own, 'restored when A is the active again');
      assert.deepEqual(ops.callsOf('flush'), [], 'A was empty: nothing flushed');
      assert.deepEqual(flushes, []);
      await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
      await waitFor(() => h.engine.ready(), { what: 'ready: B serves the data', ...WAIT });
    });
  }

  test('a restart of rbuddy in between: the node found held and empty is held again, never synced, and failed over', async () => {
    const { h, store, ops } = await healthyWithStore();
    store.writable = false;
    restartEmpty(h, OWN_YES);
    await waitFor(() => h.engine.state === 'degraded', { what: 'held, degraded', ...WAIT });
    await stopEngine(h);

    // The next process reads the same (healthy) state; its memory of the hold is gone.
    const store2 = new SwitchableStore(h.dir);
    store2.writable = false;
    const before = ops.operations().length;
    const h2 = await startEngine({
      dir: h.dir,
      ops,
      patch: (engine) => ({ ...engine, store: store2 }),
    });
    await waitFor(() => h2.engine.state === 'degraded', { what: 'held again, degraded', ...WAIT });
    assert.match(h2.engine.status().reason ?? '', /came back empty and is held/);
    assert.equal(h2.engine.holdsSync(A.id), true, 'its sync is held: no full sync, no fork');
    await waitTicks(h2, 3);
    const changes = ops
      .operations()
      .slice(before)
      .filter((call) => call.op !== 'configGet');
    assert.deepEqual(changes, [], 'already held: nothing attached, promoted or flushed');

    store2.writable = true;
    await waitFor(() => diskStep(h.dir) === 'syncing', { what: 'the failover recorded', ...WAIT });
    const record = onDisk(h.dir).failover;
    // Held with nothing saved: Redis's default stands in for its own replica-serve-stale-data.
    assert.deepEqual(record?.savedConfig, OWN_YES);
    assert.ok(record?.timeline.some((entry) => entry.step === ACTIVE_HELD));
    const done = await completeFailover(h2);
    assert.equal(done.active, B.id);
    assert.deepEqual(ops.callsOf('flush'), []);
  });

  test('while this instance may not act (HA: not the leader), the hold is not done either', async () => {
    let mayAct = true;
    const { h, store, ops } = await healthyWithStore({ mayAct: () => mayAct });
    mayAct = false;
    store.writable = false;
    restartEmpty(h, OWN_YES);
    await waitFor(() => /may not act/.test(h.engine.status().lastError ?? ''), {
      what: 'the hold refused',
      ...WAIT,
    });
    await waitTicks(h, 3);
    assert.deepEqual(ops.callsOf('makeIdleStandby'), [], 'not held');
    assert.equal(h.engine.holdsSync(A.id), false, 'nothing held in memory');

    mayAct = true;
    await waitFor(() => ops.callsOf('makeIdleStandby').includes(A.id), { what: 'held', ...WAIT });
    store.writable = true;
    const done = await completeFailover(h);
    assert.equal(done.active, B.id);
  });

  test('back empty again during the failover: held at once, its mark written once the state can be', async () => {
    const { h, store, ops } = await healthyWithStore({ graceMs: 30 });
    // An ordinary failover: the master lost, A promoted, B attached.
    loseMaster(h);
    await waitForAttached(h);
    store.writable = false;
    restartEmpty(h, OWN_YES);
    await waitFor(() => ops.callsOf('makeIdleStandby').includes(A.id), { what: 'held', ...WAIT });
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
    assert.equal(h.engine.holdsSync(A.id), true, 'held in memory');
    assert.equal(ops.model(A.id).config[STALE_DATA_SETTING], 'no');
    // The record's settings are A's own from before the promotion (the write guard is not).
    assert.equal(ops.model(A.id).config['min-replicas-to-write'], '0');

    store.writable = true;
    await waitFor(
      () => onDisk(h.dir).failover?.timeline.some((entry) => entry.step === ACTIVE_HELD) === true,
      { what: 'the mark on disk', ...WAIT },
    );
    await waitFor(() => h.engine.state === 'failing-over', { what: 'failing over', ...WAIT });
    assert.equal(h.engine.holdsSync(A.id), true, 'held by the record');
    masterBack(h);
    const done = await completeFailover(h);
    assert.equal(done.active, B.id);
    assert.deepEqual(ops.callsOf('flush'), []);
  });
});
