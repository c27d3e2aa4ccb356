// reconcile() — a start with no state file (docs/design.md, "Restart and reconciliation") — as
// a table over what the two configured nodes report: a genuine first start, the roles after a
// planned switch (the configured standby serves), an active promoted mid-failover, both nodes
// serving, a node down or loading, one server under both names. Then servingRoles(), what discovery names while no
// state can be trusted, and a property: whatever the nodes report, a node that serves reads is
// never left to a first start (which may flush the standby) and never adopted as the standby.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { NodeView } from '../../src/standby/node-view.js';
import {
  describeNode,
  reconcile,
  servesReads,
  servingRoles,
  settledState,
  type Reconciliation,
} from '../../src/standby/reconcile.js';
import { invalidReason } from '../../src/standby/persisted-state.js';
import { down, master, PROXY, replica, syncing } from '../helpers/node-views.js';

/** The configured --active and --standby. */
const A = '10.0.0.5:6379';
const S = '10.0.0.6:6379';
const MASTER = '10.0.0.2:6379';
/** Another rbuddy's announce address (another --group on the same nodes). */
const OTHER_RBUDDY = '10.0.0.8:6382';

/** One plan in a readable form: `first-start`, `adopt S (promoted)`, `degraded`, … */
function label(plan: Reconciliation): string {
  switch (plan.kind) {
    case 'first-start':
      return 'first-start';
    case 'adopt': {
      const who = plan.active.id === A ? 'A' : 'S';
      return `adopt ${who}${plan.promoted ? ' (promoted)' : ''}`;
    }
    case 'wait':
      return plan.state;
  }
}

interface Row {
  name: string;
  active: NodeView;
  standby: NodeView;
  plan: string;
  reason?: RegExp;
}

const rows: Row[] = [
  {
    name: 'both nodes empty masters: a first start',
    active: master(A),
    standby: master(S),
    plan: 'first-start',
  },
  {
    name: 'both empty replicas of the real master (their first sync to come): a first start',
    active: replica(A, { followsProxy: false, masterAddress: MASTER, keys: 0 }),
    standby: replica(S, { followsProxy: false, masterAddress: MASTER, keys: 0 }),
    plan: 'first-start',
  },
  {
    name: 'both replicas of the real master with data (a migration): both may serve, degraded',
    active: replica(A, { followsProxy: false, masterAddress: MASTER }),
    standby: replica(S, { followsProxy: false, masterAddress: MASTER }),
    plan: 'degraded',
    reason: /both nodes may be serving reads/,
  },
  {
    name: 'the active serves through another rbuddy (another --group), its standby held there: not taken over',
    active: replica(A, { followsProxy: false, masterAddress: OTHER_RBUDDY }),
    standby: replica(S, {
      followsProxy: false,
      masterAddress: OTHER_RBUDDY,
      linkUp: false,
      keys: 0,
      servesStaleData: false,
    }),
    plan: 'degraded',
    reason:
      /no state file, and node 10\.0\.0\.5:6379 holds 1000 keys and replicates from 10\.0\.0\.8:6382, not from this rbuddy's announce address: it serves reads for another rbuddy .*refusing to take it over/,
  },
  {
    name: 'the active replicates straight from a master with data, link down: not taken over',
    active: replica(A, { followsProxy: false, masterAddress: MASTER, linkUp: false }),
    standby: master(S, { writesGuarded: false }),
    plan: 'degraded',
    reason: /node 10\.0\.0\.5:6379 holds 1000 keys and replicates from 10\.0\.0\.2:6379/,
  },
  {
    name: 'the configured standby serves through another rbuddy: not taken over either',
    active: master(A, { writesGuarded: false }),
    standby: replica(S, { followsProxy: false, masterAddress: OTHER_RBUDDY }),
    plan: 'degraded',
    reason: /node 10\.0\.0\.6:6379 holds 1000 keys and replicates from 10\.0\.0\.8:6382/,
  },
  {
    name: 'the active mid first sync through rbuddy, still empty: a first start',
    active: syncing(A),
    standby: master(S),
    plan: 'first-start',
  },
  {
    name: 'a standby with leftover keys, no sign of serving: a first start (decide() guards the flush)',
    active: master(A),
    standby: master(S, { keys: 42, writesGuarded: false }),
    plan: 'first-start',
  },
  {
    name: 'healthy as configured: A replicates from rbuddy with data',
    active: replica(A),
    standby: master(S),
    plan: 'adopt A',
    reason: /nodes show 10\.0\.0\.5:6379 serving reads/,
  },
  {
    name: 'after a planned switch: the configured standby serves, the configured active is an empty master',
    active: master(A),
    standby: replica(S),
    plan: 'adopt S',
    reason: /adopted as the active, 10\.0\.0\.5:6379 as the standby/,
  },
  {
    name: 'the serving replica’s link is down (master away): still serving',
    active: master(A),
    standby: replica(S, { linkUp: false }),
    plan: 'adopt S',
  },
  {
    name: 'the other node is a master with keys but no write guard: adopted as the standby, kept',
    active: master(A, { keys: 7, writesGuarded: false }),
    standby: replica(S),
    plan: 'adopt S',
  },
  {
    name: 'a planned failover mid-sync: the incoming replica is empty, kept a replica (held next)',
    active: replica(A),
    standby: syncing(S),
    plan: 'adopt A',
  },
  {
    name: 'the idle standby held by rbuddy (replica of rbuddy, link down, stale data off, empty)',
    active: replica(A),
    standby: replica(S, { linkUp: false, keys: 0, servesStaleData: false }),
    plan: 'adopt A',
  },
  {
    name: 'an active promoted mid-failover (write guard, data), the standby syncing',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: syncing(S),
    plan: 'adopt A (promoted)',
  },
  {
    name: 'an active promoted by another rbuddy (another --group), its standby syncing from it: not adopted',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: syncing(S, { followsProxy: false, masterAddress: OTHER_RBUDDY }),
    plan: 'degraded',
    reason:
      /no state file, and node 10\.0\.0\.6:6379 is syncing from 10\.0\.0\.8:6382 \(link down\), not from this rbuddy's announce address: another rbuddy .*refusing to take the roles over/,
  },
  {
    name: 'a promoted active, its standby synced (empty) from another rbuddy, link up: not adopted',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: replica(S, { followsProxy: false, masterAddress: OTHER_RBUDDY, keys: 0 }),
    plan: 'degraded',
    reason: /node 10\.0\.0\.6:6379 replicates from 10\.0\.0\.8:6382 \(link up\)/,
  },
  {
    name: 'a promoted active, its standby held by another rbuddy (link down, no sync): not adopted',
    // What another --group's leader shows between its promotion and its standby's sync, and
    // between the standby's attempts: its link is down, yet that rbuddy manages it.
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: replica(S, {
      followsProxy: false,
      masterAddress: OTHER_RBUDDY,
      linkUp: false,
      keys: 0,
      servesStaleData: false,
    }),
    plan: 'degraded',
    reason:
      /no state file, and node 10\.0\.0\.6:6379 replicates from 10\.0\.0\.8:6382 \(link down\), not from this rbuddy's announce address: another rbuddy .*refusing to take the roles over while it follows 10\.0\.0\.8:6382: waiting, nothing is sent to either node/,
  },
  {
    name: 'a promoted active, its standby pointed at a dead address (link down): not adopted either',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: replica(S, {
      followsProxy: false,
      masterAddress: OTHER_RBUDDY,
      linkUp: false,
      keys: 0,
    }),
    plan: 'degraded',
    reason: /node 10\.0\.0\.6:6379 replicates from 10\.0\.0\.8:6382 \(link down\)/,
  },
  {
    name: 'the same standby once pointed at this rbuddy (an operator fixed the flags): adopted',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: replica(S, { linkUp: false, keys: 0, servesStaleData: false }),
    plan: 'adopt A (promoted)',
  },
  {
    name: 'the active serves through this rbuddy, the empty standby held by another: not adopted',
    active: replica(A, { linkUp: false }),
    standby: replica(S, {
      followsProxy: false,
      masterAddress: OTHER_RBUDDY,
      linkUp: false,
      keys: 0,
      servesStaleData: false,
    }),
    plan: 'degraded',
    reason: /node 10\.0\.0\.6:6379 replicates from 10\.0\.0\.8:6382 \(link down\)/,
  },
  {
    name: 'a promoted active, its standby an empty replica of the real master (link down): not adopted',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: replica(S, { followsProxy: false, masterAddress: MASTER, linkUp: false, keys: 0 }),
    plan: 'degraded',
    reason: /node 10\.0\.0\.6:6379 replicates from 10\.0\.0\.2:6379 \(link down\)/,
  },
  {
    name: 'both replicate from rbuddy with data (a planned switch not yet retired): ambiguous',
    active: replica(A),
    standby: replica(S, { keys: 990 }),
    plan: 'degraded',
    reason:
      /both nodes may be serving reads \(10\.0\.0\.5:6379 is a replica of rbuddy's announce address 10\.0\.0\.9:6382, link up, holds keys, run_id run-10\.0\.0\.5:6379; 10\.0\.0\.6:6379 is a replica of rbuddy's/,
  },
  {
    name: 'a promoted active and a synced replica of rbuddy (switched, not retired): ambiguous',
    active: master(A, { keys: 1000, writesGuarded: true }),
    standby: replica(S),
    plan: 'degraded',
    reason: /a master with the write guard set, holds keys/,
  },
  {
    name: 'one serves through rbuddy, the other replicates from elsewhere with keys: degraded',
    active: replica(A),
    standby: replica(S, { followsProxy: false, masterAddress: MASTER }),
    plan: 'degraded',
    reason: /replica of 10\.0\.0\.2:6379, link up, holds keys/,
  },
  {
    name: 'a node down: degraded naming it, nothing decided',
    active: master(A),
    standby: down(S),
    plan: 'degraded',
    reason:
      /10\.0\.0\.6:6379 cannot be reached.*10\.0\.0\.6:6379 is unreachable \(connect ECONNREFUSED\)/,
  },
  {
    name: 'a node loading its dataset: wait (starting)',
    active: master(A),
    standby: replica(S, { loading: true }),
    plan: 'starting',
    reason: /waiting for 10\.0\.0\.6:6379 to load/,
  },
  {
    name: 'one run_id under both names: degraded',
    active: replica(A, { runId: 'abc' }),
    standby: replica(S, { runId: 'abc' }),
    plan: 'degraded',
    reason: /10\.0\.0\.5:6379 and 10\.0\.0\.6:6379 report the same run_id abc/,
  },
];

describe('reconcile(): no state file × what the nodes report', () => {
  for (const row of rows) {
    test(row.name, () => {
      const plan = reconcile(row.active, row.standby);
      assert.equal(label(plan), row.plan, plan.kind === 'wait' ? plan.reason : undefined);
      if (row.reason !== undefined) {
        assert.ok('reason' in plan, 'a reason');
        assert.match(plan.reason, row.reason);
      }
    });
  }
});

describe('servingRoles(): what discovery names while no state can be trusted', () => {
  test('the one node that serves is the active, whichever was configured so', () => {
    assert.deepEqual(servingRoles(master(A), replica(S)), { active: S, standby: A });
    assert.deepEqual(servingRoles(replica(A), master(S)), { active: A, standby: S });
    assert.deepEqual(servingRoles(master(A, { keys: 9, writesGuarded: true }), down(S)), {
      active: A,
      standby: S,
    });
  });

  test('none, both, or one server under two names: nothing named', () => {
    assert.equal(servingRoles(master(A), master(S, { keys: 5, writesGuarded: false })), undefined);
    assert.equal(servingRoles(replica(A), replica(S)), undefined);
    assert.equal(servingRoles(replica(A, { runId: 'x' }), master(S, { runId: 'x' })), undefined);
  });

  test('describeNode names role, master, link, data and run_id', () => {
    assert.equal(
      describeNode(replica(S, { linkUp: false })),
      `${S} is a replica of rbuddy's announce address ${PROXY}, link down, holds keys, run_id run-${S}`,
    );
    assert.equal(
      describeNode(master(A, { writesGuarded: false })),
      `${A} is a master, empty, run_id run-${A}`,
    );
  });
});

describe('settledState(): what is written once start-up is settled', () => {
  const at = '2026-03-01T12:00:00.000Z';
  const configured = { active: A, standby: S };
  const settle = (active: NodeView, standby: NodeView): ReturnType<typeof settledState> => {
    const plan = reconcile(active, standby);
    assert.notEqual(plan.kind, 'wait');
    if (plan.kind === 'wait') throw new Error('not settled');
    const state = settledState(plan, configured, at, 'f-1');
    assert.equal(invalidReason(state), undefined, 'the loader accepts it after a restart');
    return state;
  };

  test('a first start: the configured roles, epoch 0, no data to protect yet', () => {
    const state = settle(master(A), master(S));
    assert.deepEqual(state, {
      ...configured,
      version: 1,
      epoch: 0,
      activeHoldsData: false,
      failover: null,
      lastFailover: null,
    });
  });

  test('adopted: the roles the nodes show, epoch 0, the active protected (I1)', () => {
    const state = settle(master(A), replica(S));
    assert.deepEqual([state.active, state.standby, state.epoch], [S, A, 0]);
    assert.equal(state.activeHoldsData, true);
    assert.equal(state.failover, null);
  });

  test('a promoted active: a stopped failover that restores Redis defaults on retire', () => {
    const state = settle(master(A, { keys: 9, writesGuarded: true }), master(S));
    assert.equal(state.active, A);
    assert.equal(state.failover?.step, 'aborted');
    assert.deepEqual([state.failover?.outgoing, state.failover?.incoming], [A, S]);
    assert.deepEqual(state.failover?.savedConfig, {
      'min-replicas-to-write': '0',
      'min-replicas-max-lag': '10',
      'replica-serve-stale-data': 'yes',
    });
    assert.equal(state.failover?.timeline[0]?.step, 'adopted');
  });

  test('a store that held epoch 7 (a key wiped under it): the next epoch, never 0 again', () => {
    const plan = reconcile(master(A), replica(S));
    if (plan.kind === 'wait') throw new Error('not settled');
    const state = settledState(plan, configured, at, 'f-1', 7);
    assert.deepEqual([state.active, state.epoch], [S, 8]);
    const first = reconcile(master(A), master(S));
    if (first.kind === 'wait') throw new Error('not settled');
    assert.equal(settledState(first, configured, at, 'f-1', 0).epoch, 1);
  });
});

const nodeView = (id: string): fc.Arbitrary<NodeView> =>
  fc
    .record({
      reachable: fc.boolean(),
      role: fc.constantFrom<NodeView['role'][]>('master', 'slave'),
      followsProxy: fc.boolean(),
      linkUp: fc.boolean(),
      loading: fc.boolean(),
      keys: fc.constantFrom(0, 3),
      writesGuarded: fc.boolean(),
      runId: fc.constantFrom(`run-${id}`, 'run-one-server'),
    })
    .map((fields) => {
      if (!fields.reachable) return down(id);
      const isReplica = fields.role === 'slave';
      return replica(id, {
        ...fields,
        masterAddress: isReplica ? (fields.followsProxy ? PROXY : MASTER) : undefined,
        followsProxy: isReplica && fields.followsProxy,
        linkUp: isReplica && fields.linkUp,
        writesGuarded: !isReplica && fields.writesGuarded,
      });
    });

describe('reconcile(): properties', () => {
  test('a node that serves reads is never left to a first start, nor adopted as the standby', () => {
    fc.assert(
      fc.property(nodeView(A), nodeView(S), (active, standby) => {
        const plan = reconcile(active, standby);
        const serving = [active, standby].filter(servesReads);
        if (plan.kind === 'first-start') {
          assert.equal(serving.length, 0, 'first start: nothing serves');
          assert.ok(active.reachable && standby.reachable, 'first start: both seen');
        }
        if (plan.kind === 'adopt') {
          assert.deepEqual(serving, [plan.active], 'adopt: the one serving node is the active');
          const elsewhere = plan.standby.role === 'slave' && !plan.standby.followsProxy;
          assert.ok(
            !elsewhere,
            'adopt: the standby follows nothing but this rbuddy, linked or not',
          );
        }
        if (plan.kind === 'wait') assert.notEqual(plan.reason, '', 'waiting says why');
      }),
      { numRuns: 2000 },
    );
  });
});
