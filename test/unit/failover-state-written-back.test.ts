// A leader's state store changed under it (docs/ha.md, "Leader and followers"): the key deleted,
// an older value put back (a backup restored), garbage. The engine's keepStored() — asked by the
// leader's poll — writes its own state back, and only on a load that no save of its own raced:
// a state being saved, or saved meanwhile, is never overwritten with the one before it.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { EventBus } from '../../src/notify/events.js';
import { StateKeeper } from '../../src/standby/persist-then-announce.js';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import type { LoadResult, StateStore } from '../../src/standby/state-store.js';
import {
  B,
  healthyEngine,
  healthyNodes,
  healthyState,
  MASTER,
  onDisk,
  stateDir,
} from '../helpers/engine-harness.js';

const silent = pino({ level: 'silent' });

/** A store whose loads and saves the test holds back: a load reads what was stored when called. */
class GatedStore implements StateStore {
  readonly file = 'fake:state';
  stored: PersistedState | undefined;
  saves = 0;
  loadGate: Promise<void> | undefined;
  saveGate: Promise<void> | undefined;

  async load(): Promise<LoadResult> {
    const read = this.stored;
    await this.loadGate;
    return read === undefined
      ? { kind: 'missing', file: this.file }
      : { kind: 'ok', file: this.file, state: read };
  }

  async save(state: PersistedState): Promise<void> {
    await this.saveGate;
    this.stored = state;
    this.saves += 1;
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function keeperOn(store: StateStore): StateKeeper {
  return new StateKeeper({
    store,
    bus: new EventBus('rbuddy', silent),
    masterId: MASTER,
    log: silent,
  });
}

describe('StateKeeper.keepSaved: the stored state is the one last saved', () => {
  test('deleted: saved again', async () => {
    const store = new GatedStore();
    const keeper = keeperOn(store);
    keeper.loaded(healthyState());
    await keeper.keepSaved();
    assert.deepEqual(store.stored, healthyState());
    assert.equal(store.saves, 1);
  });

  test('an older state put back: the current one saved again', async () => {
    const store = new GatedStore();
    store.stored = { ...healthyState(), epoch: 2, active: B.id, standby: healthyState().active };
    const keeper = keeperOn(store);
    keeper.loaded(healthyState());
    await keeper.keepSaved();
    assert.deepEqual(store.stored, healthyState());
  });

  test('the same state, its keys in another order: nothing written', async () => {
    const store = new GatedStore();
    const state = healthyState();
    store.stored = JSON.parse(
      JSON.stringify(Object.fromEntries(Object.entries(state).reverse())),
    ) as PersistedState;
    const keeper = keeperOn(store);
    keeper.loaded(state);
    await keeper.keepSaved();
    assert.equal(store.saves, 0);
  });

  test('a save under way: nothing written (what is read may be the state being saved)', async () => {
    const store = new GatedStore();
    const keeper = keeperOn(store);
    keeper.loaded(healthyState());
    const held = gate();
    store.saveGate = held.promise;
    const next = { ...healthyState(), epoch: 4 };
    const saving = keeper.save(next);
    await keeper.keepSaved();
    held.open();
    await saving;
    assert.equal(store.saves, 1);
    assert.deepEqual(store.stored, next, 'the newer state stays');
  });

  test('a save completed during the load: the older state read is not written back', async () => {
    const store = new GatedStore();
    store.stored = healthyState();
    const keeper = keeperOn(store);
    keeper.loaded(healthyState());
    const held = gate();
    store.loadGate = held.promise;
    const checking = keeper.keepSaved();
    const next = { ...healthyState(), epoch: 4 };
    await keeper.save(next);
    held.open();
    await checking;
    assert.deepEqual(store.stored, next, 'the newer state stays');
    assert.equal(store.saves, 1);
  });

  test('activeHoldsData marked but its write failed: written by the next check', async () => {
    const store = new GatedStore();
    store.stored = { ...healthyState(), activeHoldsData: false };
    const keeper = keeperOn(store);
    keeper.loaded({ ...healthyState(), activeHoldsData: false });
    store.saveGate = Promise.reject(new Error('etcd unavailable'));
    await assert.rejects(keeper.markActiveHoldsData());
    store.saveGate = undefined;
    await keeper.keepSaved();
    assert.equal(store.stored?.activeHoldsData, true);
  });
});

describe('FailoverEngine.keepStored: the state file written back', () => {
  for (const [what, change] of [
    ['deleted', (file: string) => rm(file)],
    [
      'an older state put back',
      (file: string) =>
        writeFile(
          file,
          JSON.stringify({ ...healthyState(), epoch: 1, active: B.id, standby: 'x' }),
        ),
    ],
    ['garbage', (file: string) => writeFile(file, '{not json')],
  ] as const) {
    test(what, async () => {
      const dir = await stateDir(healthyState());
      const h = await healthyEngine({ dir, ops: healthyNodes() });
      const before = onDisk(dir);
      await change(join(dir, 'state.json'));
      await h.engine.keepStored();
      assert.deepEqual(onDisk(dir), before);
    });
  }

  test('not while this instance may not act', async () => {
    const dir = await stateDir(healthyState());
    let acting = true;
    const h = await healthyEngine({
      dir,
      ops: healthyNodes(),
      patch: (options) => ({ ...options, mayAct: () => acting }),
    });
    acting = false;
    await rm(join(dir, 'state.json'));
    await h.engine.keepStored();
    assert.throws(() => onDisk(dir), /ENOENT/);
  });
});
