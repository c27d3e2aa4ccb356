// The failover decision, as a pure function: from what the engine observed and what is
// persisted, to the state it should be in and the actions to take next. No I/O here — the
// engine observes before and acts after — so every state × observation is unit-testable.
import { drainEndsAt } from './drain.js';
import { STALE_DATA_SETTING } from './node-ops.js';
import { isEmptyMaster, isHeldStandby, unreachable } from './node-view.js';
import type { NodeView, SessionView } from './node-view.js';
import type { FailoverRecord, PersistedState } from './persisted-state.js';
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
  /** When this process started acting: a switch it resumed drains from here (drain.ts). */
  startedAt: number;
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
  /**
   * Verified: epoch + 1, roles swapped and persisted, then announced. The incoming node's
   * run_id and keys as verified go on disk with it: the retire checks them (I2).
   */
  | { kind: 'switch'; syncedRunId: string | null; syncedKeys: number }
  /**
   * After a switch, the new active restarted or lost its data before the outgoing node was
   * retired: the outgoing node, which still holds the data, is the active again (epoch + 1,
   * announced), and a new failover syncs the other node. Never a flush of the only copy (I2).
   */
  | { kind: 'switch-back'; reason: string }
  /** The active replicates through rbuddy under a run_id not recorded yet: record it. */
  | { kind: 'note-active-run-id'; runId: string }
  /**
   * Drained: the outgoing node is guarded and detached (if it still replicates), then one
   * MULTI/EXEC flushes it and makes it the held idle standby, then its clients are killed. Only
   * once the persisted state names it the outgoing node.
   */
  | { kind: 'retire-outgoing' }
  | { kind: 'abort' }
  /**
   * The state is older than the nodes (rolled-back-state.ts): the roles they show are persisted,
   * epoch + 1, and announced. No node is touched.
   */
  | { kind: 'adopt-nodes-roles'; reason: string; promoted: boolean };

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
  // An active back empty (again, or before its hold landed) is held first, whatever the step.
  if (['syncing', 'held'].includes(persisted.failover.step) && isEmptyMaster(obs.active))
    decided.actions.unshift({ kind: 'hold-active' });
  return decided;
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

  if (active.role === 'master') {
    if (active.loading) {
      // A restart loading its dump.rdb: its key count is in flux, decided once it is loaded.
      return decision('starting', `the active ${active.id} is a master loading its dataset`);
    }
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
      const problem = retireProblem(record, incoming, config.guardShrink);
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
      if (obs.now < drainEndsAt(record, obs.startedAt, config.drainMs)) {
        return decision('switching', 'draining clients from the old active');
      }
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
