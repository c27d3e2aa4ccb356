// The failover decision, as a pure function: from what the engine observed and what is
// persisted, to the state it should be in and the actions to take next. No I/O here — the
// engine observes before and acts after — so every state × observation is unit-testable.
import { STALE_DATA_SETTING } from './node-ops.js';
import { isEmptyMaster, isHeldStandby, unreachable } from './node-view.js';
import type { NodeView, SessionView } from './node-view.js';
import type { FailoverRecord, PersistedState } from './persisted-state.js';
import type { EngineState } from './states.js';

export type OperatorRequest = 'failover' | 'confirm' | 'abort';

export interface Observations {
  now: number;
  /** The health probe's verdict. */
  masterUp: boolean;
  /** Since when the master counts as lost (set by the probe or the active's session). */
  masterLostSince: number | undefined;
  /** The gate refused a +FULLRESYNC to the active since the last decision. */
  fullResyncDemanded: boolean;
  /** The node that is active / standby according to the persisted roles. */
  active: NodeView;
  standby: NodeView;
  activeSession: SessionView;
  standbySession: SessionView;
  operator: OperatorRequest | undefined;
  /**
   * The admin API refused a confirm since the last decision, because the held standby was not
   * verified synced (why): the failover goes back to waiting for its sync.
   */
  refusedConfirm: string | undefined;
  /** When the current attempt to sync the incoming node began (engine memory). */
  syncAttemptStartedAt: number | undefined;
}

export interface DecideConfig {
  graceMs: number;
  drainMs: number;
  syncTimeoutMs: number;
  guardEmpty: 'hold' | 'switch';
  /** Hold when the synced standby has fewer keys than this share of the active's (0: never). */
  guardShrink: number;
  initFlushStandby: boolean;
}

export type Action =
  /** REPLICAOF <announce> on the active (first start: nobody reads it yet). */
  | { kind: 'attach-active' }
  /**
   * First start, --init-flush-standby: the standby's keys are flushed and it becomes the idle
   * standby in the same transaction.
   */
  | { kind: 'prepare-standby' }
  /** The active completed its first sync: from now on I1 protects it. */
  | { kind: 'mark-active-holds-data' }
  /**
   * Persist a new failover record (saving the active's config first). `promote: false` skips
   * the promotion (planned failovers, or an active that already is a master).
   */
  | {
      kind: 'begin-failover';
      failoverKind: 'unplanned' | 'planned';
      reason: string;
      promote?: boolean;
    }
  /** Write guard + REPLICAOF NO ONE on the outgoing active. */
  | { kind: 'promote' }
  /** The outgoing active, back an empty master, held as the idle standby is (see isEmptyMaster). */
  | { kind: 'hold-active' }
  /**
   * Make the standby the idle standby rbuddy holds (its original settings persisted first): a
   * replica of the announce address, replica-serve-stale-data no, its sync answered
   * -NOMASTERLINK, so it answers no read with its empty or stale data and takes no write.
   * Always last in a plan: it reads the state the actions before it wrote.
   */
  | { kind: 'hold-standby' }
  /**
   * REPLICAOF <announce> on the incoming node (a no-op for a held standby: its hold is released
   * by the step, and its next retry syncs); the step becomes 'syncing'.
   */
  | { kind: 'attach-standby' }
  /** The sync attempt failed (timeout): report it and start over. */
  | { kind: 'restart-standby-sync'; reason: string }
  /**
   * Held for an operator (data-loss guard): `syncedRunId` is the run_id of the standby verified
   * synced; the key counts (the active's unknown when it is unreachable) go in failover.held.
   */
  | {
      kind: 'hold';
      reason: string;
      syncedRunId: string | undefined;
      activeKeys: number | null;
      standbyKeys: number;
    }
  /** The held standby is no longer verified synced: back to waiting for its sync. */
  | { kind: 'resume-sync'; reason: string }
  /** Verified: epoch + 1, roles swapped and persisted, then announced. */
  | { kind: 'switch' }
  /**
   * Drained: the outgoing node is guarded and detached (if it still replicates), then one
   * MULTI/EXEC flushes it and makes it the held idle standby, then its clients are killed. Only
   * once the persisted state names it the outgoing node.
   */
  | { kind: 'retire-outgoing' }
  | { kind: 'abort' };

export interface Decision {
  state: EngineState;
  /** Why the engine is in this state (shown in status; required for degraded). */
  reason: string | undefined;
  actions: Action[];
}

export function decide(
  persisted: PersistedState,
  obs: Observations,
  config: DecideConfig,
): Decision {
  // One server under two names (a typo, or two addresses of one host): every step would act on
  // both roles at once, and a retire would flush the active itself.
  const oneServer = sameServer(obs.active, obs.standby);
  if (oneServer !== undefined) return decision('degraded', oneServer);
  if (persisted.failover === null) return decideSteady(persisted, obs, config);
  const decided = decideFailover(persisted.failover, obs, config, persisted);
  // An active back empty (again, or before its hold landed) is held first, whatever the step.
  if (['syncing', 'held'].includes(persisted.failover.step) && isEmptyMaster(obs.active))
    decided.actions.unshift({ kind: 'hold-active' });
  return decided;
}

function decision(state: EngineState, reason?: string, ...actions: Action[]): Decision {
  return { state, reason, actions };
}

/** Why the two views are one redis-server (the same run_id), or undefined when they are two. */
export function sameServer(a: NodeView, b: NodeView): string | undefined {
  if (!a.reachable || !b.reachable || a.runId === undefined || a.runId !== b.runId)
    return undefined;
  return `${a.id} and ${b.id} report the same run_id ${a.runId}: they are one redis-server, not two replicas; give --active and --standby two different nodes`;
}

/**
 * Why a first start must not flush a standby that holds keys, or undefined when it may. Only
 * --init-flush-standby allows it, and not even that when the keys may be what applications
 * read: a standby that replicates from rbuddy or carries the write guard of a promotion (a lost
 * state file, not a first start), or one that holds the only data in sight.
 */
function flushRefusal(
  active: NodeView,
  standby: NodeView,
  config: DecideConfig,
): string | undefined {
  const holds = `standby ${standby.id} holds ${standby.keys} keys`;
  if (!config.initFlushStandby)
    return `${holds}: refusing to flush it without --init-flush-standby`;
  const serving = standby.followsProxy
    ? 'replicates from rbuddy'
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

/** Synced from both views: the proxy's (whole stream relayed, ACKed) and the node's INFO. */
export function isSynced(node: NodeView, session: SessionView): boolean {
  return syncProblem(node, session) === undefined;
}

/**
 * Why a held standby is not (or no longer) verified synced, or undefined.
 * `lasting` problems mean its verified dataset is gone or being replaced (it restarted, was
 * detached, takes a new sync): the failover goes back to waiting for its sync. The others may
 * pass (a link down while the master blips, a session not back yet after rbuddy restarted).
 */
export function heldStandbyProblem(
  record: FailoverRecord,
  node: NodeView,
  session: SessionView,
): SyncProblem | undefined {
  if (node.reachable && node.runId !== record.syncedRunId) {
    return {
      why:
        record.syncedRunId === undefined || record.syncedRunId === null
          ? `the run_id of the standby ${node.id} that synced is not recorded`
          : `the standby ${node.id} restarted since it synced (run_id ${node.runId ?? 'unknown'}, not ${record.syncedRunId})`,
      lasting: true,
    };
  }
  return syncProblem(node, session);
}

export interface SyncProblem {
  why: string;
  lasting: boolean;
}

function syncProblem(node: NodeView, session: SessionView): SyncProblem | undefined {
  if (!node.reachable) return { why: unreachable(node, 'standby'), lasting: false };
  if (node.role !== 'slave' || !node.followsProxy) {
    return { why: `${node.id} does not replicate through rbuddy`, lasting: true };
  }
  if (node.syncInProgress || node.loading) {
    return { why: `${node.id} is taking a new sync (loading or sync in progress)`, lasting: true };
  }
  if (!node.linkUp) {
    return { why: `${node.id}'s link to the master is down`, lasting: false };
  }
  if (!session.streamingAcked) {
    return {
      why: `rbuddy has not seen ${node.id} stream and ACK on a live session`,
      lasting: false,
    };
  }
  return undefined;
}

function decideSteady(
  persisted: PersistedState,
  obs: Observations,
  config: DecideConfig,
): Decision {
  const { active, standby } = obs;
  if (!active.reachable) return decision('degraded', unreachable(active, 'active'));

  if (!persisted.activeHoldsData) {
    // First start: attach the active (a full sync is fine, nobody reads it yet) and make sure
    // the standby is the empty, held idle standby — never flushing data without being told to.
    if (!standby.reachable) return decision('degraded', unreachable(standby, 'standby'));
    const actions: Action[] = [];
    const prepare = standby.keys > 0;
    if (prepare) {
      const refusal = flushRefusal(active, standby, config);
      if (refusal !== undefined) return decision('degraded', refusal);
      actions.push({ kind: 'prepare-standby' });
    }
    // Once prepared it is the idle standby.
    const guard: Action[] = prepare ? [] : holdIdleStandby(standby, persisted);
    if (!active.followsProxy) {
      actions.push({ kind: 'attach-active' });
    } else if (isSynced(active, obs.activeSession)) {
      actions.push({ kind: 'mark-active-holds-data' });
      return decision('healthy', undefined, ...actions, ...guard);
    }
    return decision(
      'starting',
      `first start: ${active.id} is syncing through the proxy`,
      ...actions,
      ...guard,
    );
  }

  if (active.role === 'master') {
    if (active.keys === 0) {
      // The active restarted without its dataset (replicas usually run without persistence): the
      // standby takes over, nothing to promote; meanwhile the empty node is held (never a nil).
      const reason = `the active ${active.id} came back empty (restarted without its dataset)`;
      return decision(
        'failing-over',
        reason,
        { kind: 'begin-failover', failoverKind: 'unplanned', reason, promote: false },
        ...(isEmptyMaster(active) ? [{ kind: 'hold-active' } as const] : []),
      );
    }
    return decision(
      'degraded',
      `active ${active.id} is a master holding ${active.keys} keys but no failover is recorded: refusing to guess`,
    );
  }
  if (!active.followsProxy) {
    return decision(
      'degraded',
      `active ${active.id} replicates from another master, not the proxy`,
    );
  }
  if (obs.fullResyncDemanded) {
    return decision('failing-over', 'the master demanded a full resync of the active', {
      kind: 'begin-failover',
      failoverKind: 'unplanned',
      reason: 'the master demanded a full resync of the active',
    });
  }
  if (obs.masterLostSince !== undefined) {
    const lostFor = obs.now - obs.masterLostSince;
    if (lostFor >= config.graceMs) {
      const reason = `the master has been unreachable for ${lostFor} ms (grace ${config.graceMs} ms)`;
      return decision('failing-over', reason, {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason,
      });
    }
    return decision(
      'master-lost',
      `master unreachable for ${lostFor} ms; the active serves stale reads`,
      ...holdIdleStandby(standby, persisted),
    );
  }
  if (obs.operator === 'failover') {
    return decision('failing-over', 'planned failover requested by an operator', {
      kind: 'begin-failover',
      failoverKind: 'planned',
      reason: 'planned failover requested by an operator',
    });
  }
  if (!standby.reachable) return decision('degraded', unreachable(standby, 'standby'));
  return decision('healthy', undefined, ...holdIdleStandby(standby, persisted));
}

/**
 * The standby is not the held idle standby (the old layout, an idle master; a replica of
 * another master; a sync begun before it was held; replica-serve-stale-data yes), or its own
 * replica-serve-stale-data is not saved (a state file from before it was, or a lost one: it must
 * be restored when it becomes the active): hold it. Not while it loads a dataset.
 */
function holdIdleStandby(standby: NodeView, { standbySavedConfig }: PersistedState): Action[] {
  const saved = standbySavedConfig?.[STALE_DATA_SETTING] !== undefined;
  return standby.reachable && !standby.loading && (!isHeldStandby(standby) || !saved)
    ? [{ kind: 'hold-standby' }]
    : [];
}

/**
 * Why switching to the synced standby would lose data an operator should look at first, or
 * undefined. An empty result replacing a dataset (--guard-empty hold): an unreachable active
 * counts as holding data, since its keys are unknown and once switched it would be flushed as
 * soon as it answers again. A result with fewer keys than --guard-shrink of the active's (a
 * master back with part of its data); that needs the active's count, and leaves the empty case
 * to --guard-empty, so `--guard-empty switch` keeps its meaning.
 */
function dataLossGuard(
  incoming: NodeView,
  outgoing: NodeView,
  config: DecideConfig,
): string | undefined {
  if (incoming.keys === 0) {
    if (config.guardEmpty !== 'hold') return undefined;
    if (!outgoing.reachable) {
      return `the synced standby is empty and the active's keys are unknown: ${unreachable(outgoing, 'active')}`;
    }
    return outgoing.keys > 0
      ? `the synced standby is empty but the active holds ${outgoing.keys} keys`
      : undefined;
  }
  if (config.guardShrink > 0 && outgoing.reachable) {
    if (incoming.keys < config.guardShrink * outgoing.keys) {
      return `the synced standby holds ${incoming.keys} keys, fewer than ${config.guardShrink} of the active's ${outgoing.keys} (--guard-shrink)`;
    }
  }
  return undefined;
}

function decideFailover(
  record: FailoverRecord,
  obs: Observations,
  config: DecideConfig,
  persisted: PersistedState,
): Decision {
  // Before the switch the outgoing node is the active; after it, the standby.
  const switched = record.step === 'switched';
  const outgoing = switched ? obs.standby : obs.active;
  const incoming = switched ? obs.active : obs.standby;
  const incomingSession = switched ? obs.activeSession : obs.standbySession;

  switch (record.step) {
    case 'promoting':
      if (!outgoing.reachable) {
        return decision('failing-over', `cannot promote: ${unreachable(outgoing, 'active')}`);
      }
      return decision(
        'failing-over',
        record.reason,
        { kind: 'promote' },
        { kind: 'attach-standby' },
      );

    case 'syncing': {
      if (!incoming.reachable) {
        return decision(
          'failing-over',
          `waiting for the standby: ${unreachable(incoming, 'standby')}`,
        );
      }
      // A held standby already replicates from rbuddy: attached all the same (the event, the
      // sync timer), once per failover.
      const attached = record.timeline.some((entry) => entry.step === 'standby-attached');
      if (incoming.role !== 'slave' || !incoming.followsProxy || !attached) {
        return decision('failing-over', 'attaching the standby', { kind: 'attach-standby' });
      }
      if (!isSynced(incoming, incomingSession)) {
        const started = obs.syncAttemptStartedAt;
        if (started !== undefined && obs.now - started > config.syncTimeoutMs) {
          return decision('failing-over', 'the standby sync timed out', {
            kind: 'restart-standby-sync',
            reason: `the standby did not sync within ${config.syncTimeoutMs} ms`,
          });
        }
        return decision(
          'failing-over',
          obs.masterUp ? 'the standby is syncing' : 'waiting for the master to return',
        );
      }
      const guard = dataLossGuard(incoming, outgoing, config);
      if (guard !== undefined) {
        return decision('held', guard, {
          kind: 'hold',
          reason: guard,
          syncedRunId: incoming.runId,
          activeKeys: outgoing.reachable ? outgoing.keys : null,
          standbyKeys: incoming.keys,
        });
      }
      return decision('switching', 'the standby is synced', { kind: 'switch' });
    }

    case 'held': {
      if (obs.operator === 'abort') {
        // The standby is the held idle standby again (once in sight).
        const guard: Action[] = incoming.reachable ? [{ kind: 'hold-standby' }] : [];
        return decision(
          'degraded',
          'an operator aborted the failover',
          { kind: 'abort' },
          ...guard,
        );
      }
      // A confirm switches only to the very node verified synced when the switch was held: it
      // may have restarted, been detached, or be taking a new sync since.
      const problem = heldStandbyProblem(record, incoming, incomingSession);
      let refused: string | undefined;
      if (obs.refusedConfirm !== undefined) refused = `confirm refused: ${obs.refusedConfirm}`;
      else if (obs.operator === 'confirm' && problem !== undefined)
        refused = `confirm refused: ${problem.why}`;
      else if (problem?.lasting === true) refused = problem.why;
      if (refused !== undefined) {
        return decision('failing-over', `${refused}; waiting for the standby's sync again`, {
          kind: 'resume-sync',
          reason: refused,
        });
      }
      if (obs.operator === 'confirm') {
        return decision('switching', 'an operator confirmed the switch', { kind: 'switch' });
      }
      const held = [...record.timeline].reverse().find((entry) => entry.step === 'held');
      const waiting = `${held?.detail ?? 'the synced standby may lose data'}: waiting for an operator (POST /v1/failover/confirm or /abort)`;
      return decision(
        'held',
        problem === undefined
          ? waiting
          : `${waiting}; the standby is not verified synced at the moment, a confirm is refused: ${problem.why}`,
      );
    }

    case 'switched': {
      if (!outgoing.reachable) {
        return decision('switching', `cannot retire: ${unreachable(outgoing, 'old active')}`);
      }
      if (!incoming.reachable) {
        // The old active's data may be the only copy in sight: keep it until the new one answers.
        return decision('switching', `not retiring yet: ${unreachable(incoming, 'new active')}`);
      }
      // verifiedAt is stamped in the same write that switched the roles.
      const switchedAt = Date.parse(
        record.verifiedAt ??
          [...record.timeline].reverse().find((entry) => entry.step === 'switched')?.at ??
          '',
      );
      if (Number.isFinite(switchedAt) && obs.now - switchedAt < config.drainMs) {
        return decision('switching', 'draining clients from the old active');
      }
      return decision('healthy', undefined, { kind: 'retire-outgoing' });
    }

    case 'aborted': {
      if (obs.operator === 'failover') {
        return decision('failing-over', 'an operator restarted the failover', {
          kind: 'attach-standby',
        });
      }
      // A promoted active found with no state file is recorded as a stopped failover too.
      const last = record.timeline[record.timeline.length - 1];
      const why = last?.step === 'adopted' ? last.detail : undefined;
      return decision(
        'degraded',
        `${why ?? 'failover aborted by an operator'}: the active serves its data detached from the master; POST /v1/failover to try again`,
        ...holdIdleStandby(incoming, persisted),
      );
    }
  }
}
