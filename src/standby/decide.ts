// The failover decision, as a pure function: from what the engine observed and what is
// persisted, to the state it should be in and the actions to take next. No I/O here — the
// engine observes before and acts after — so every state × observation is unit-testable.
import type { Action } from './action-types.js';
import { drainWait, type DrainConfig, type DrainObservations } from './drain.js';
import { STALE_DATA_SETTING } from './node-ops.js';
import {
  backEmpty,
  isEmptyMaster,
  isHeldStandby,
  restartedEmpty,
  servedElsewhere,
  unreachable,
} from './node-view.js';
import type { NodeView, SessionView } from './node-view.js';
import { ACTIVE_HELD, type FailoverRecord, type PersistedState } from './persisted-state.js';
import { flushRefusal } from './reconcile.js';
import { rolledBack } from './rolled-back-state.js';
import type { EngineState } from './states.js';
import {
  dataLossGuard,
  heldStandbyProblem,
  isSynced,
  retireProblem,
  sameServer,
} from './verification.js';

export { heldStandbyProblem, isSynced, sameServer, type SyncProblem } from './verification.js';
export type { Action } from './action-types.js';

export type OperatorRequest = 'failover' | 'confirm' | 'abort';

/** How the reason of a failover begun on the master's loss starts (its master.down went out). */
export const MASTER_LOST_REASON = 'the master has been unreachable';

/** `now`, `startedAt` and `switchAgeMs`: drain.ts. */
export interface Observations extends DrainObservations {
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
  /** This process holds the active, back empty, in memory: the state does not record it yet. */
  activeHeldInMemory: boolean;
}

/** `drainMs` and `retireAfterSwitchMs`: drain.ts. */
export interface DecideConfig extends DrainConfig {
  graceMs: number;
  syncTimeoutMs: number;
  guardEmpty: 'hold' | 'switch';
  /** Hold when the synced standby has fewer keys than this share of the active's (0: never). */
  guardShrink: number;
  initFlushStandby: boolean;
}

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
  // A state older than the nodes is never acted on as it stands: its roles are the nodes' upside
  // down (a backup restored), and only the node that serves reads keeps its data.
  const behind = rolledBack(persisted, obs.active, obs.standby);
  if (behind !== undefined) {
    const { adopt, reason } = behind;
    if (!adopt) return decision('degraded', reason);
    return decision('degraded', reason, {
      kind: 'adopt-nodes-roles',
      reason,
      promoted: behind.promoted,
    });
  }
  if (persisted.failover === null) return decideSteady(persisted, obs, config);
  const decided = decideFailover(persisted.failover, obs, config, persisted);
  if (holdActiveFirst(persisted, obs)) decided.actions.unshift({ kind: 'hold-active' });
  return decided;
}

/**
 * An active back empty before the switch (again, before its hold landed, or restarted while it
 * was being promoted) is held first, whatever the step: never promoted, never left answering
 * nils. Also one held in memory only, until its mark is on disk; and one found held with no
 * mark (the process that held it died first), to write it.
 */
function holdActiveFirst(persisted: PersistedState, obs: Observations): boolean {
  const record = persisted.failover;
  if (record === null || !['promoting', 'syncing', 'held'].includes(record.step)) return false;
  const { active } = obs;
  if (obs.activeHeldInMemory && heldEmpty(active)) return true;
  if (!backEmpty(active, persisted.activeRunId)) return false;
  const marked = record.timeline.some((entry) => entry.step === ACTIVE_HELD);
  return !(marked && isHeldStandby(active));
}

/** The switch to `incoming`, recording the process and the keys verified (I2). */
function switchTo(incoming: NodeView): Action {
  return { kind: 'switch', syncedRunId: incoming.runId ?? null, syncedKeys: incoming.keys };
}

function decision(state: EngineState, reason?: string, ...actions: Action[]): Decision {
  return { state, reason, actions };
}

function decideSteady(
  persisted: PersistedState,
  obs: Observations,
  config: DecideConfig,
): Decision {
  const { active, standby } = obs;
  if (!active.reachable) return decision('degraded', unreachable(active, 'active'));

  if (!persisted.activeHoldsData) {
    // First start: attach the active (a full sync is fine, nobody reads it yet — unless it serves
    // from elsewhere) and make the standby the empty, held idle standby, never flushing unasked.
    if (!standby.reachable) return decision('degraded', unreachable(standby, 'standby'));
    const elsewhere = servedElsewhere(active, 'active');
    if (elsewhere !== undefined) return decision('degraded', elsewhere);
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
      actions.push({ kind: 'mark-active-holds-data' }, ...noteRunId(active, persisted));
      return decision('healthy', undefined, ...actions, ...guard);
    }
    return decision(
      'starting',
      `first start: ${active.id} is syncing through the proxy`,
      ...actions,
      ...guard,
    );
  }

  if (activeBackEmpty(persisted, obs)) {
    // The active restarted without its dataset (replicas usually run without persistence): held
    // first, whether or not the state can be written (never a nil, never a fork for a full sync
    // the gate refuses), then the standby takes over; nothing to promote.
    const reason = `the active ${active.id} came back empty (restarted without its dataset)`;
    return decision(
      'failing-over',
      reason,
      { kind: 'hold-active' },
      {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason,
        promote: false,
        activeHeld: true,
      },
    );
  }
  if (active.role === 'master') {
    if (active.loading) {
      // A restart loading its dump.rdb: its key count is in flux, decided once it is loaded.
      return decision('starting', `the active ${active.id} is a master loading its dataset`);
    }
    if (active.keys === 0) {
      // Empty but carrying the write guard, with no failover recorded: replaced, nothing to
      // promote, and not held (a promotion's empty dataset reads as it is).
      const reason = `the active ${active.id} came back empty (restarted without its dataset)`;
      return decision('failing-over', reason, {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason,
        promote: false,
      });
    }
    return restartedActive(persisted, active);
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
      const reason = `${MASTER_LOST_REASON} for ${lostFor} ms (grace ${config.graceMs} ms)`;
      return decision('failing-over', reason, {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason,
      });
    }
    return decision(
      'master-lost',
      `master unreachable for ${lostFor} ms; the active serves stale reads`,
      ...noteRunId(active, persisted),
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
  return decision(
    'healthy',
    undefined,
    ...noteRunId(active, persisted),
    ...holdIdleStandby(standby, persisted),
  );
}

/**
 * The active came back empty: an empty master, or a held-looking empty replica of rbuddy that
 * this process holds in memory or that restarted (restartedEmpty: run_id not the recorded one).
 */
function activeBackEmpty(persisted: PersistedState, obs: Observations): boolean {
  const { active } = obs;
  if (isEmptyMaster(active)) return true;
  if (obs.activeHeldInMemory) return heldEmpty(active);
  return restartedEmpty(active, persisted.activeRunId);
}

/** Held as the idle standby is, and empty (not loading a dataset either). */
function heldEmpty(view: NodeView): boolean {
  return isHeldStandby(view) && view.keys === 0 && !view.loading;
}

/** The run_id of an active replicating through rbuddy, when new (first start's round too). */
function noteRunId(active: NodeView, persisted: PersistedState): Action[] {
  return active.followsProxy && active.runId !== undefined && active.runId !== persisted.activeRunId
    ? [{ kind: 'note-active-run-id', runId: active.runId }]
    : [];
}

/**
 * The active is a master holding keys and no failover is recorded. A restart — its run_id is not
 * the one rbuddy last saw it replicate under — comes back a master from the dump.rdb of its
 * last full sync (a replica writes the snapshot it loads even with `save ""`,
 * `readSyncBulkPayload` in replication.c), serving a dataset frozen at that sync. It is failed
 * over like a lost master's active: guarded (a write to it would be lost at the switch; REPLICAOF
 * NO ONE is a no-op on a master) and serving its stale data while the standby syncs. Not
 * re-attached: it came back a master, so its replid is a new one and the master would answer its
 * PSYNC +FULLRESYNC (forking for a snapshot the gate then refuses) before this same failover.
 * The same run_id means someone promoted it on purpose: rbuddy does not guess
 * (docs/design.md, "Restart and reconciliation").
 */
function restartedActive(persisted: PersistedState, active: NodeView): Decision {
  const seen = persisted.activeRunId;
  if (seen === undefined || seen === null || active.runId === undefined || active.runId === seen) {
    const why =
      seen === undefined || seen === null
        ? 'its run_id as a replica is not recorded'
        : `the same process (run_id ${seen}) that replicated through rbuddy was promoted`;
    return decision(
      'degraded',
      `active ${active.id} is a master holding ${active.keys} keys but no failover is recorded (${why}): refusing to guess`,
    );
  }
  const reason = `the active ${active.id} restarted (run_id ${active.runId}, not ${seen}) and came back a master holding ${active.keys} keys from its last sync; it serves them while the standby takes over`;
  return decision('failing-over', reason, {
    kind: 'begin-failover',
    failoverKind: 'unplanned',
    reason,
  });
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
      if (holdActiveFirst(persisted, obs)) {
        // Restarted without its dataset before its promotion: held (planned first, by decide()),
        // not promoted; the standby takes over. The data is on the master, or gone with it.
        return decision(
          'failing-over',
          `the active ${outgoing.id} came back empty (restarted without its dataset): held, not promoted; the standby takes over`,
          { kind: 'attach-standby' },
        );
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
      return decision('switching', 'the standby is synced', switchTo(incoming));
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
        return decision('switching', 'an operator confirmed the switch', switchTo(incoming));
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
      // I2: the retire flushes the outgoing node, so the new active must still be the process
      // verified synced, holding the data, a replica of rbuddy.
      const problem = retireProblem(record, incoming, config.guardShrink, outgoing.keys);
      if (problem?.kind === 'lost' && outgoing.keys > 0) {
        if (outgoing.loading) return decision('switching', `not retiring: ${problem.why}`);
        const reason = `${problem.why}: ${outgoing.id} still holds ${outgoing.keys} keys and is the active again; ${incoming.id} takes a new sync`;
        return decision('failing-over', reason, { kind: 'switch-back', reason });
      }
      if (problem?.kind === 'foreign') {
        return decision(
          'degraded',
          `not retiring ${outgoing.id}, which keeps its ${outgoing.keys} keys: ${problem.why} (someone changed it since the switch); point ${incoming.id} back at rbuddy's announce address (REPLICAOF) for the retire to go on`,
        );
      }
      if (problem?.kind === 'wait') {
        // The old active's data may be the only copy in sight: keep it until the new one is back.
        return decision('switching', `not retiring yet: ${problem.why}`);
      }
      const draining = drainWait(record, obs, config);
      if (draining !== undefined) return decision('switching', draining);
      if (problem?.kind === 'lost') {
        // The outgoing node is empty: nothing to keep, nothing is flushed. Not `healthy`: the new
        // active lost its data, and the next round fails over from it.
        return decision('failing-over', problem.why, { kind: 'retire-outgoing' });
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
