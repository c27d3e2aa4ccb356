// The engine on a state older than the nodes (docs/design.md, "Restart and reconciliation"): the
// state dir restored from a backup taken before a switch names A the active, while A was retired
// since (empty, held) and B, which it calls the idle standby, holds the data. From the first
// answer B is named, every sync is held, and the loop adopts the nodes' roles (epoch + 1,
// announced); B is never held, detached, guarded or flushed, A never promoted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import {
  A,
  B,
  FULLRESYNC,
  healthyState,
  onDisk,
  startEngine,
  stateDir,
  unstartedEngine,
  WAIT,
  waitTicks,
} from '../helpers/engine-harness.js';
import {
  FakeNodeOps,
  heldStandbyModel,
  ORIGINAL_CONFIG,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { FakeProxy } from '../helpers/fake-proxy.js';

/** A retired since the state was saved; B the active with the data, its sync held (link down). */
function nodesAfterSwitch(overrides: { loading?: boolean } = {}): FakeNodeOps {
  return new FakeNodeOps({
    [A.id]: heldStandbyModel({ runId: 'run-a' }),
    [B.id]: replicaModel({ keys: 1000, linkUp: false, runId: 'run-b', ...overrides }),
  });
}

/** What the engine did to B, the node with the data, beyond looking at it. */
function touched(ops: FakeNodeOps, id: string): string[] {
  return ops
    .operations()
    .filter((call) => call.node === id)
    .map((call) => call.op);
}

describe('FailoverEngine: a state older than the nodes (a backup restored)', () => {
  test('after load(), before the loop: B is named, every sync held, a full sync of B refused', async () => {
    const dir = await stateDir(healthyState());
    const proxy = new FakeProxy();
    const engine = unstartedEngine(dir, proxy, nodesAfterSwitch());
    await engine.load();
    assert.deepEqual(engine.roles(), { active: B.id, standby: A.id });
    assert.equal(engine.status().active, B.id);
    assert.equal(engine.holdsSync(A.id), true, "the empty node's PSYNC never reaches the master");
    assert.equal(engine.holdsSync(B.id), true);
    assert.equal(engine.gate(proxy.connect(B), FULLRESYNC), 'close');
  });

  test('the loop adopts the roles the nodes show: epoch + 1, announced, nothing flushed', async () => {
    const dir = await stateDir(healthyState());
    const ops = nodesAfterSwitch();
    const h = await startEngine({ dir, ops });
    const adopted = await waitFor(
      () => {
        const disk = onDisk(dir);
        return disk.active === B.id ? disk : undefined;
      },
      { what: 'the adoption on disk', ...WAIT },
    );
    assert.equal(adopted.epoch, 4);
    assert.equal(adopted.standby, A.id);
    assert.equal(adopted.activeHoldsData, true);
    assert.equal(adopted.failover, null);
    assert.equal(adopted.lastFailover?.timeline[0]?.step, 'adopted');
    // Announced once on disk (persist, then announce).
    const completed = await waitFor(
      () => h.events.find((event) => event.type === 'failover.completed'),
      { what: 'failover.completed', ...WAIT },
    );
    assert.equal(completed?.epoch, 4);
    assert.equal(completed?.data.active, B.id);
    assert.equal(completed?.data.previousActive, A.id);

    // B streams through rbuddy now; A is held as the idle standby (its own settings saved).
    h.proxy.stream(B);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    await waitTicks(h, 2);
    assert.deepEqual(touched(ops, B.id), [], 'B, the node with the data, was never touched');
    assert.ok(!touched(ops, A.id).includes('detach'), 'A, the empty node, was never promoted');
    assert.equal(ops.model(B.id).keys, 1000);
    assert.equal(ops.model(A.id).role, 'slave');
    assert.deepEqual(h.engine.roles(), { active: B.id, standby: A.id });
    assert.equal(h.engine.holdsSync(B.id), false, 'B streams again');
    assert.equal(h.engine.holdsSync(A.id), true, 'A is the held idle standby');
    assert.equal(h.events.filter((event) => event.type === 'failover.completed').length, 1);
  });

  test('restored at a failover that was promoting: the empty node is not promoted', async () => {
    const promoting: PersistedState = {
      ...healthyState(),
      failover: {
        id: 'f-old',
        kind: 'unplanned',
        reason: 'the master has been unreachable',
        startedAt: new Date().toISOString(),
        outgoing: A.id,
        incoming: B.id,
        step: 'promoting',
        savedConfig: { ...ORIGINAL_CONFIG },
        verifiedAt: null,
        timeline: [],
      },
    };
    const dir = await stateDir(promoting);
    const ops = nodesAfterSwitch();
    await startEngine({ dir, ops });
    const adopted = await waitFor(
      () => {
        const disk = onDisk(dir);
        return disk.active === B.id ? disk : undefined;
      },
      { what: 'the adoption on disk', ...WAIT },
    );
    assert.equal(adopted.failover, null);
    // A's own settings, recorded when that failover began, are the new standby's.
    assert.deepEqual(adopted.standbySavedConfig, ORIGINAL_CONFIG);
    assert.deepEqual(touched(ops, B.id), []);
    assert.ok(!touched(ops, A.id).includes('detach'), 'A was never promoted');
  });

  test('B still loading: degraded, nothing done, B named', async () => {
    const dir = await stateDir(healthyState());
    const ops = nodesAfterSwitch({ loading: true });
    const h = await startEngine({ dir, ops });
    await waitTicks(h, 3);
    assert.equal(h.engine.state, 'degraded');
    assert.match(h.engine.status().reason ?? '', /older than the nodes.*waiting for 10\.0\.0\.6/);
    assert.deepEqual(ops.operations(), []);
    assert.equal(onDisk(dir).active, A.id, 'the state is left as it is');
    assert.deepEqual(h.engine.roles(), { active: B.id, standby: A.id });
  });
});
