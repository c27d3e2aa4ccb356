// Start-up without a state file that can be trusted (docs/design.md, "Restart and
// reconciliation"). A missing state.json looks exactly like a first start, and so does
// one an operator deleted or a disk lost; then the configured --standby may well be the node
// applications read. So before anything is written or done, the nodes say which it is: what
// each reports (role, master, keys, run_id) decides, as a pure function like decide(), and when
// the nodes do not settle it rbuddy waits in `degraded` rather than guess. A first start, too,
// flushes a standby that holds keys only when nothing says those keys are served (flushRefusal).
import { managedElsewhere, servedElsewhere, type NodeView } from './node-view.js';
import { REDIS_DEFAULTS } from './node-ops.js';
import type { PersistedState } from './persisted-state.js';
import type { EngineState } from './states.js';
import { sameServer } from './verification.js';

export type Reconciliation =
  /** Nothing is served from either node: a first start with the configured roles. */
  | { kind: 'first-start' }
  /** The nodes show who serves: take these roles as they are (nothing is flushed). */
  | {
      kind: 'adopt';
      active: NodeView;
      standby: NodeView;
      /** The active is a master with the write guard: it was promoted mid-failover. */
      promoted: boolean;
      reason: string;
    }
  /** Not decidable yet (a node down or loading), or ambiguous: do nothing. */
  | { kind: 'wait'; state: Extract<EngineState, 'starting' | 'degraded'>; reason: string };

export interface Roles {
  active: string;
  standby: string;
}

/**
 * Whether a node shows that applications read it: it holds keys and either is a replica (of
 * rbuddy: only the active is, link up or down, outside a failover, since an attached standby is
 * empty until its snapshot is in; or of anything else: another rbuddy, the master itself) or is a
 * master with rbuddy's write guard (an active promoted during a failover).
 */
export function servesReads(view: NodeView): boolean {
  return (
    view.reachable &&
    view.keys > 0 &&
    (view.role === 'slave' || (view.role === 'master' && view.writesGuarded))
  );
}

/** What a node reported, in the words an operator needs to check it by hand. */
export function describeNode(view: NodeView): string {
  if (!view.reachable) {
    return `${view.id} is unreachable${view.error === undefined ? '' : ` (${view.error})`}`;
  }
  let role: string;
  if (view.role === 'slave') {
    const master = view.masterAddress ?? 'an unknown master';
    role = `a replica of ${view.followsProxy ? `rbuddy's announce address ${master}` : master}, link ${view.linkUp ? 'up' : 'down'}`;
  } else if (view.role === 'master') {
    role = view.writesGuarded ? 'a master with the write guard set' : 'a master';
  } else {
    role = 'of unknown role';
  }
  const data = view.loading ? 'loading' : view.keys > 0 ? 'holds keys' : 'empty';
  return `${view.id} is ${role}, ${data}, run_id ${view.runId ?? 'unknown'}`;
}

/**
 * The roles the nodes show, for discovery while no state can be trusted: the one node that
 * serves reads is the active. Undefined when neither or both do.
 */
export function servingRoles(a: NodeView, b: NodeView): Roles | undefined {
  if (sameServer(a, b) !== undefined) return undefined;
  const serving = [a, b].filter(servesReads);
  if (serving.length !== 1) return undefined;
  return serving[0] === a ? { active: a.id, standby: b.id } : { active: b.id, standby: a.id };
}

/** What to do with no state file, given the configured active and standby as they report. */
export function reconcile(configuredActive: NodeView, configuredStandby: NodeView): Reconciliation {
  const views = [configuredActive, configuredStandby];
  const report = views.map(describeNode).join('; ');
  const wait = (state: 'starting' | 'degraded', reason: string): Reconciliation => ({
    kind: 'wait',
    state,
    reason,
  });

  const down = views.filter((view) => !view.reachable).map((view) => view.id);
  if (down.length > 0) {
    return wait(
      'degraded',
      `no state file, and ${down.join(' and ')} cannot be reached: a first start cannot be told from a lost state file until both nodes answer (${report})`,
    );
  }
  const oneServer = sameServer(configuredActive, configuredStandby);
  if (oneServer !== undefined) return wait('degraded', oneServer);
  const loading = views.filter((view) => view.loading).map((view) => view.id);
  if (loading.length > 0) {
    return wait(
      'starting',
      `no state file: waiting for ${loading.join(' and ')} to load its dataset before reading the roles (${report})`,
    );
  }

  const serving = views.filter(servesReads);
  const [active] = serving;
  if (active === undefined) return { kind: 'first-start' };
  if (serving.length > 1) {
    return wait(
      'degraded',
      `no state file, and both nodes may be serving reads (${report}): refusing to guess which is the active; make the one that should be the standby an empty master (REPLICAOF NO ONE, FLUSHALL), or, alone, restore the state file, and restart (in a group on etcd, the leader reads the nodes again at its next round)`,
    );
  }
  const elsewhere = servedElsewhere(active, 'node');
  if (elsewhere !== undefined) {
    // Not adopted: adopting it would make it this rbuddy's active, attached at the next step —
    // taken from whoever serves it, and synced from this rbuddy's master, which may hold
    // another dataset (docs/design.md, "Restart and reconciliation").
    return wait('degraded', `no state file, and ${elsewhere} (${report})`);
  }
  const standby = active === configuredActive ? configuredStandby : configuredActive;
  // Its link down is no claim that nobody manages it: another rbuddy holds its idle standby so.
  const managed = managedElsewhere(standby, 'node');
  if (managed !== undefined) return wait('degraded', `no state file, and ${managed} (${report})`);
  return {
    kind: 'adopt',
    active,
    standby,
    promoted: active.role === 'master',
    reason: `no state file, but the nodes show ${active.id} serving reads (${report}): adopted as the active, ${standby.id} as the standby`,
  };
}

/** What the log says of a settled start-up (an adoption is worth a warning: a state was lost). */
export function settledNote(
  plan: Exclude<Reconciliation, { kind: 'wait' }>,
  file: string,
): { level: 'info' | 'warn'; fields: Record<string, unknown>; message: string } {
  if (plan.kind === 'first-start') {
    return {
      level: 'info',
      fields: { file },
      message: 'first start: no state yet, and no node serves reads',
    };
  }
  return {
    level: 'warn',
    fields: { active: plan.active.id, standby: plan.standby.id, reason: plan.reason },
    message: 'no state file: adopted the roles the nodes show',
  };
}

/**
 * The state to persist once start-up is settled: the configured roles for a first start, or
 * the roles the nodes show. An adoption keeps epoch 0: the epoch counts the switches this state
 * dir has seen, the lost file's count cannot be known, and a made-up one would make the next
 * events look ordered after events they may not follow. But when the store knows an epoch it
 * held (`floor`: a group's key in etcd wiped under running instances), the state takes the next
 * one: epochs never go back, and no number announced before names another active. (No event is
 * emitted either: no role
 * changed, rbuddy only learned them again.) An active found promoted was mid-failover and its
 * record is gone: it is recorded as a stopped failover (`aborted`), which keeps its data and
 * flushes nothing until an operator asks for a new attempt (POST /v1/failover).
 */
export function settledState(
  plan: Exclude<Reconciliation, { kind: 'wait' }>,
  configured: Roles,
  at: string,
  failoverId: string,
  floor?: number,
): PersistedState {
  const epoch = floor === undefined ? 0 : floor + 1;
  const base = { version: 1, epoch, failover: null, lastFailover: null } as const;
  if (plan.kind === 'first-start') return { ...base, ...configured, activeHoldsData: false };
  const roles = { active: plan.active.id, standby: plan.standby.id };
  if (!plan.promoted) return { ...base, ...roles, activeHoldsData: true };
  return {
    ...base,
    ...roles,
    activeHoldsData: true,
    failover: {
      id: failoverId,
      kind: 'unplanned',
      reason: plan.reason,
      startedAt: at,
      outgoing: roles.active,
      incoming: roles.standby,
      step: 'aborted',
      // Its own values went with the state file; without these the guard would refuse the
      // FLUSHALL that retires it after the next switch.
      savedConfig: { ...REDIS_DEFAULTS },
      verifiedAt: null,
      timeline: [{ step: 'adopted', at, detail: plan.reason }],
    },
  };
}

/**
 * Why a first start must not flush a standby that holds keys, or undefined when it may. Only
 * --init-flush-standby allows it, and not even that when the keys may be what applications
 * read: a standby that replicates from rbuddy or carries the write guard of a promotion (a lost
 * state file, not a first start), or one that holds the only data in sight. (Asked by decide()
 * while the persisted state says the active holds no data yet.)
 */
export function flushRefusal(
  active: NodeView,
  standby: NodeView,
  config: { initFlushStandby: boolean },
): string | undefined {
  const holds = `standby ${standby.id} holds ${standby.keys} keys`;
  if (!config.initFlushStandby)
    return `${holds}: refusing to flush it without --init-flush-standby`;
  const serving =
    standby.role === 'slave'
      ? `replicates from ${standby.followsProxy ? 'rbuddy' : (standby.masterAddress ?? 'a master')}`
      : standby.writesGuarded
        ? 'carries the write guard of a promotion'
        : undefined;
  if (serving !== undefined) {
    return `${holds} and ${serving}: it may be serving reads (a lost state file?); refusing to flush it, even with --init-flush-standby`;
  }
  if (active.keys === 0) {
    return `${holds} and the active ${active.id} none: it may hold the only copy; refusing to flush it, even with --init-flush-standby`;
  }
  if (active.role === 'master') {
    // Both plain masters with data: what two replicas look like after a reboot lost their
    // REPLICAOF and rbuddy lost its state file — and after a planned switch the configured
    // standby is the one applications read. Nothing tells which one served.
    return `${holds} and the active ${active.id}, a master too, ${active.keys}: either may be the one applications read (a lost state file?); refusing to flush it, even with --init-flush-standby`;
  }
  return undefined;
}
