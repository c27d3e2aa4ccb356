// A persisted state older than the nodes (docs/design.md, "Restart and reconciliation"): a state
// dir restored from a backup, or the group's key in etcd set back to an earlier value, names the
// roles of an earlier epoch. After a switch made since, the node it calls the active was retired
// (flushed and held, or back empty) and the node it calls the idle standby holds the data and
// replicates through rbuddy. Taken as it stands, that state would hold the node with the data
// (hold-standby: -MASTERDOWN) and have the empty one promoted on the full resync the master
// demands of it (REPLICAOF NO ONE on no keys: nils), then fail over back and flush. So the nodes'
// own roles are checked against it at every round, as they are for a lost state file, and a
// state they contradict is never acted on as it stands.
import type { Outcome } from './action-types.js';
import { isHeldStandby, type NodeView } from './node-view.js';
import { REDIS_DEFAULTS } from './node-ops.js';
import type { FailoverRecord, PersistedState } from './persisted-state.js';
import { describeNode, servesReads, servingRoles, type Roles } from './reconcile.js';

export type RolledBack =
  /** The nodes settle it: the recorded standby is the active (`promoted`: mid-failover). */
  | { adopt: true; promoted: boolean; reason: string }
  /** Not now (a node loading), or not at all (the data replicates from elsewhere): nothing done. */
  | { adopt: false; reason: string };

/**
 * Whether the nodes contradict the persisted roles the way an older state does, and what to do.
 * Only while the state says its active holds the data and the recorded standby is the idle one
 * (no failover, or one not past its promotion: the standby is attached only at `syncing`): then
 * the recorded active holding no keys while the recorded standby serves reads (it holds keys and
 * replicates from rbuddy's announce address, or is a promoted master with rbuddy's write guard)
 * cannot come from anything rbuddy did under this state — the idle standby's sync is held, it
 * never takes the stream. The steps from `syncing` on expect the standby to take the data, and
 * handle an empty outgoing active themselves (hold-active, switch-back). A recorded standby that
 * holds keys replicated from another address (another instance of the group, before a takeover
 * has pointed it here; or a master rbuddy does not know) contradicts the state just as much, but
 * whose data it holds is not known: nothing is done.
 */
export function rolledBack(
  persisted: PersistedState,
  active: NodeView,
  standby: NodeView,
): RolledBack | undefined {
  const step = persisted.failover?.step;
  // A switch recorded, its drain under way, yet the node it made the active is held as an idle
  // standby: only a later retire does that (a value captured mid-drain, put back after the next
  // failover). A node that merely restarted comes back a master, and the switch-back handles it.
  const retiredSince = step === 'switched' && isHeldStandby(active);
  if (!persisted.activeHoldsData || (step !== undefined && step !== 'promoting' && !retiredSince)) {
    return undefined;
  }
  if (!active.reachable || active.keys > 0) return undefined;
  const elsewhere =
    standby.reachable && standby.role === 'slave' && !standby.followsProxy && standby.keys > 0;
  if (!servesReads(standby) && !elsewhere) return undefined;
  const says = `the state names ${active.id} the active holding the data and ${standby.id} the idle standby (epoch ${persisted.epoch}${step === undefined ? '' : `, a failover at step ${step}`})`;
  const report = [active, standby].map(describeNode).join('; ');
  if (elsewhere) {
    return {
      adopt: false,
      reason: `${says}, but ${active.id} holds no keys and ${standby.id} holds keys replicated from ${standby.masterAddress ?? 'another master'} (${report}): refusing to guess whose data it is; nothing is done until it replicates from rbuddy (a takeover points it here) or the state is fixed`,
    };
  }
  const loading = [active, standby].filter((view) => view.loading).map((view) => view.id);
  if (loading.length > 0) {
    return {
      adopt: false,
      reason: `${says}, but ${standby.id} serves reads and ${active.id} holds no keys (${report}): a state older than the nodes (a backup restored?); waiting for ${loading.join(' and ')} to load before adopting the roles the nodes show; nothing is done meanwhile`,
    };
  }
  return {
    adopt: true,
    promoted: standby.role === 'master',
    reason: `${says}, but the nodes show the opposite (${report}): a state older than the nodes (a backup restored?); ${standby.id} is adopted as the active, epoch ${persisted.epoch + 1}, and nothing is flushed`,
  };
}

/**
 * The views of the recorded active and standby when they show the state older than the nodes.
 * Judged only on views taken under this very state (`under`): after a step that changed it (a
 * retire, say) the last views show the nodes before that step, not a contradiction.
 */
function contradicting(
  persisted: PersistedState,
  views: readonly NodeView[],
  under: PersistedState | undefined,
): [NodeView, NodeView] | undefined {
  if (under !== persisted) return undefined;
  const active = views.find((view) => view.id === persisted.active);
  const standby = views.find((view) => view.id === persisted.standby);
  if (active === undefined || standby === undefined) return undefined;
  return rolledBack(persisted, active, standby) === undefined ? undefined : [active, standby];
}

/**
 * The roles discovery and GET /active name: the persisted ones, unless the latest views show the
 * state older than the nodes; then the one node that serves reads (servingRoles), never the empty
 * one the state calls the active (none, when the data replicates from elsewhere).
 */
export function namedRoles(
  persisted: PersistedState,
  views: readonly NodeView[],
  under: PersistedState | undefined,
): Roles | undefined {
  const contradicted = contradicting(persisted, views, under);
  if (contradicted !== undefined) return servingRoles(...contradicted);
  return { active: persisted.active, standby: persisted.standby };
}

/**
 * Whether the latest views show the state older than the nodes. Every node's sync is held then:
 * a full sync would flush the node with the data as the recorded standby (at `promoting` it is not
 * held), and the recorded active's PSYNC would only have the master fork for a snapshot the gate
 * refuses.
 */
export function behindNodes(
  persisted: PersistedState | undefined,
  views: readonly NodeView[],
  under: PersistedState | undefined,
): boolean {
  return persisted !== undefined && contradicting(persisted, views, under) !== undefined;
}

/**
 * The state once the roles the nodes show are adopted: the recorded standby is the active, the
 * epoch goes on from the one restored (+ 1: the switches made since it cannot be counted, so
 * the number may repeat one announced before, naming the same active after a single switch),
 * and the adoption is recorded as the switch that made the epoch (`lastFailover`, its timeline
 * `adopted`), so that a restart tells of it as this process did. The new standby's own settings
 * are the ones a failover recorded when it began, if any; otherwise hold-standby saves them
 * (Redis's default standing in for the `replica-serve-stale-data no` of a held node). A promoted
 * active is adopted as a stopped failover (`aborted`), as after a lost state file.
 */
export function adoptedState(
  persisted: PersistedState,
  adoption: { reason: string; promoted: boolean },
  at: string,
  id: string,
): PersistedState {
  const roles = { active: persisted.standby, standby: persisted.active };
  const record = (step: 'switched' | 'aborted'): FailoverRecord => ({
    id,
    kind: 'unplanned',
    reason: adoption.reason,
    startedAt: at,
    outgoing: step === 'switched' ? roles.standby : roles.active,
    incoming: step === 'switched' ? roles.active : roles.standby,
    step,
    savedConfig: step === 'switched' ? null : { ...REDIS_DEFAULTS },
    verifiedAt: step === 'switched' ? at : null,
    timeline: [{ step: 'adopted', at, detail: adoption.reason }],
  });
  return {
    ...persisted,
    ...roles,
    epoch: persisted.epoch + 1,
    activeHoldsData: true,
    activeRunId: null,
    // A switch's record saved the outgoing node's settings, not those of the node now the standby.
    standbySavedConfig:
      persisted.failover?.step === 'switched' ? null : (persisted.failover?.savedConfig ?? null),
    failover: adoption.promoted ? record('aborted') : null,
    lastFailover: { ...record('switched'), endedAt: at, result: 'completed' },
  };
}

/**
 * What adopt-nodes-roles does: the adopted state, announced like a switch (I3), so that whoever
 * was told the empty node is told the active again.
 */
export function adoptionOutcome(
  persisted: PersistedState,
  adoption: { reason: string; promoted: boolean },
  at: string,
  id: string,
): Outcome {
  return {
    state: adoptedState(persisted, adoption, at, id),
    announce: [
      {
        type: 'failover.completed',
        data: { reason: adoption.reason, previousActive: persisted.active },
      },
    ],
  };
}
