// What rbuddy persists in --state-dir (state.json): the roles, the epoch, and where an ongoing
// failover stands. It is written atomically (temp file, fsync, rename, fsync of the directory)
// BEFORE anything acts on or announces a change (I2, I3 in docs/design.md), so a restart at any
// step resumes from the truth and never flushes the wrong node.
import { isObject } from '../is-object.js';
import type { RbuddyEvent } from '../notify/events.js';
import { storedEvent } from '../notify/stored-event.js';
import { isHeldStandby, restartedEmpty, type NodeView } from './node-view.js';

/** The steps of a failover, in order. A restart resumes at the recorded step. */
export type FailoverStep =
  /** Unplanned: saving the active's config and promoting it (REPLICAOF NO ONE + write guard). */
  | 'promoting'
  /** The standby is told REPLICAOF <announce> and full-syncs through the proxy. */
  | 'syncing'
  /** The standby is synced but empty while the active is not: waiting for an operator. */
  | 'held'
  /** Roles swapped and persisted (epoch + 1); the outgoing node is drained, then flushed. */
  | 'switched'
  /**
   * An operator refused the held result: the active keeps serving its data, detached from the
   * master, and nothing is switched or flushed until an operator starts a new attempt.
   */
  | 'aborted';

export interface SavedConfig {
  /** Original values of the settings rbuddy changes on a node, restored when it is done. */
  [setting: string]: string;
}

export interface TimelineEntry {
  step: string;
  at: string;
  detail?: string;
}

export interface FailoverRecord {
  id: string;
  kind: 'unplanned' | 'planned';
  reason: string;
  startedAt: string;
  /** Node id of the active replica being replaced. */
  outgoing: string;
  /** Node id of the standby taking over. */
  incoming: string;
  step: FailoverStep;
  /** The outgoing node's settings before rbuddy touched them. */
  savedConfig: SavedConfig | null;
  /** Set once the incoming node was verified synced (proxy view and INFO). */
  verifiedAt: string | null;
  /**
   * The run_id of the incoming node verified synced, recorded when the switch was held (a
   * confirm switches only to that very process) and when it switched: the retire flushes the
   * outgoing node only while the new active is still that process (I2). Absent in files
   * written before this field.
   */
  syncedRunId?: string | null;
  /** The incoming node's keys when it was verified synced, recorded by the switch (I2). */
  syncedKeys?: number | null;
  timeline: TimelineEntry[];
}

export interface PersistedState {
  version: 1;
  epoch: number;
  /** Node ids ("host:port" as configured). Exactly one active. */
  active: string;
  standby: string;
  /**
   * True once the active replica holds a dataset it serves (its first sync completed). From
   * then on no +FULLRESYNC may ever reach it (I1).
   */
  activeHoldsData: boolean;
  /**
   * The standby's settings before rbuddy guarded it against writes (written before the guard is
   * set), restored when it becomes the active. Absent in files written before this field.
   */
  standbySavedConfig?: SavedConfig | null;
  /**
   * The run_id of the active as rbuddy last saw it replicate through rbuddy: an active found a
   * master with another run_id restarted (from its dump.rdb, say); with the same one, someone
   * promoted it (docs/design.md, "Restart and reconciliation"). Absent in older files.
   */
  activeRunId?: string | null;
  failover: FailoverRecord | null;
  /**
   * The last failover ended, for /v1/status: completed, aborted by an operator, or reverted
   * (the new active lost its data before the retire: the outgoing node is the active again).
   */
  lastFailover:
    (FailoverRecord & { endedAt: string; result: 'completed' | 'aborted' | 'reverted' }) | null;
  /**
   * Events that announce this state, saved in the same atomic write as the state itself, until
   * every durable channel (the webhook outboxes) holds them. A process killed between the two
   * writes leaves them here, and the next one sends them with the same ids. Absent in
   * files written before this field existed.
   */
  unannounced?: RbuddyEvent[];
}

/** The failover's timeline step that records its outgoing active held (back empty). */
export const ACTIVE_HELD = 'active-held';

/**
 * Whether the proxy answers a node's sync -NOMASTERLINK instead of relaying it: the idle standby
 * (no failover, or one switched or aborted, where the standby is not syncing) is held, so that it
 * stays a replica that answers -MASTERDOWN / -READONLY (docs/design.md, "Roles and states"), and
 * so is an active back empty (the record's mark; or, `view` its latest, restartedEmpty). A hold
 * not recorded yet is the engine's, in memory (active-hold.ts).
 * Releasing it (a failover's `syncing` step) is what attaches it. While no state is known (no
 * file yet, or a corrupt one) the gate refuses every full sync, but the master would still fork
 * for one: a node that looks held (`view`, its latest) stays held, and before the nodes were
 * first seen every sync waits (a replica retries about every second).
 */
export function syncHeld(
  persisted: PersistedState | undefined,
  nodeId: string,
  view: NodeView | undefined,
): boolean {
  if (persisted === undefined) return view === undefined || isHeldStandby(view);
  const step = persisted.failover?.step;
  if (nodeId === persisted.active) {
    // An active back empty, held until the standby replaces it (the `hold-active` action); or
    // found held and empty under a new run_id with nothing recorded (held by a process that died
    // before it could record it): a full sync is all it could get, and the gate refuses that.
    if (step === 'switched') return false;
    if (persisted.failover?.timeline.some((e) => e.step === ACTIVE_HELD) === true) return true;
    return view !== undefined && restartedEmpty(view, persisted.activeRunId);
  }
  if (nodeId !== persisted.standby) return false;
  return step === undefined || step === 'switched' || step === 'aborted';
}

// ---- validation of what is read back ---------------------------------------------------------

/** Settings to restore on a node: every value a string, as CONFIG SET takes it. */
function isSavedConfig(value: unknown): boolean {
  return isObject(value) && Object.values(value).every((setting) => typeof setting === 'string');
}

const STEPS = new Set(['promoting', 'syncing', 'held', 'switched', 'aborted']);

/** Why a parsed file is not a PersistedState we can act on, or undefined if it is one. */
export function invalidReason(value: unknown): string | undefined {
  if (!isObject(value)) return 'it is not a JSON object';
  if (value.version !== 1) return `unknown version ${JSON.stringify(value.version)} (expected 1)`;
  if (!Number.isSafeInteger(value.epoch) || (value.epoch as number) < 0)
    return 'epoch is not a non-negative integer';
  if (typeof value.active !== 'string' || value.active === '') return 'active is missing';
  if (typeof value.standby !== 'string' || value.standby === '') return 'standby is missing';
  if (value.active === value.standby) return 'active and standby name the same node';
  if (typeof value.activeHoldsData !== 'boolean') return 'activeHoldsData is not a boolean';
  if (value.standbySavedConfig !== undefined && value.standbySavedConfig !== null) {
    if (!isSavedConfig(value.standbySavedConfig))
      return 'standbySavedConfig is not an object of strings';
  }
  if (
    value.activeRunId !== undefined &&
    value.activeRunId !== null &&
    typeof value.activeRunId !== 'string'
  ) {
    return 'activeRunId is not a string';
  }
  if (value.failover !== null) {
    const why = invalidFailover(value.failover, value.active, value.standby);
    if (why !== undefined) return `failover: ${why}`;
  }
  if (value.lastFailover !== null && !isObject(value.lastFailover))
    return 'lastFailover is not an object';
  if (value.unannounced !== undefined) {
    if (!Array.isArray(value.unannounced)) return 'unannounced is not an array';
    // Checked as the outbox checks an event it reads back (storedEvent), not by a looser check
    // of our own: every event ever saved here was stamped by EventBus.create (a known type, the
    // group, the state's epoch, active/standby/master in its data), so the strict check finds no
    // file rbuddy wrote corrupt; and an event it refuses could not be delivered anyway (the
    // outbox would set it aside). A file holding one was edited or damaged: corrupt, as it is
    // for any other field.
    for (const [index, event] of value.unannounced.entries()) {
      const checked = storedEvent(event);
      if (!checked.ok) return `unannounced[${index}]: ${checked.why}`;
    }
  }
  return undefined;
}

function invalidFailover(value: unknown, active: string, standby: string): string | undefined {
  if (!isObject(value)) return 'not an object';
  const record = value as Partial<FailoverRecord>;
  if (typeof record.id !== 'string') return 'id is missing';
  if (record.kind !== 'planned' && record.kind !== 'unplanned')
    return 'kind is not planned/unplanned';
  if (typeof record.step !== 'string' || !STEPS.has(record.step))
    return `unknown step ${JSON.stringify(record.step)}`;
  if (typeof record.outgoing !== 'string' || typeof record.incoming !== 'string')
    return 'outgoing/incoming missing';
  const nodes = new Set([active, standby]);
  if (
    !nodes.has(record.outgoing) ||
    !nodes.has(record.incoming) ||
    record.outgoing === record.incoming
  ) {
    return 'outgoing/incoming do not name the two nodes';
  }
  // Before the switch the outgoing node is still the active; after it, the standby.
  const switched = record.step === 'switched';
  if (switched ? record.outgoing !== standby : record.outgoing !== active) {
    return `outgoing ${record.outgoing} contradicts the roles for step ${record.step}`;
  }
  if (record.savedConfig !== null && !isObject(record.savedConfig))
    return 'savedConfig is not an object';
  if (record.verifiedAt !== null && typeof record.verifiedAt !== 'string')
    return 'verifiedAt is not a string';
  if (switched && record.verifiedAt === null) return 'switched without a verified incoming node';
  if (record.syncedRunId !== undefined && record.syncedRunId !== null) {
    if (typeof record.syncedRunId !== 'string') return 'syncedRunId is not a string';
  }
  if (record.syncedKeys !== undefined && record.syncedKeys !== null) {
    if (!Number.isSafeInteger(record.syncedKeys) || record.syncedKeys < 0)
      return 'syncedKeys is not a non-negative integer';
  }
  if (!Array.isArray(record.timeline)) return 'timeline is not an array';
  return undefined;
}

// ---- the switch that made the current epoch ---------------------------------------------------

/** The switch of roles that made the current epoch, as the state records it. */
export interface EpochSwitch {
  epoch: number;
  /** The active before the switch, and the one the switch made. */
  previousActive: string;
  active: string;
  /**
   * The outgoing active was lost (the master lost, the active restarted or back empty, the new
   * active lost before the retire): what Sentinel reports as its master going down.
   */
  unplanned: boolean;
}

/**
 * The switch that made the current epoch, from the persisted record, so that a restarted
 * process tells of it as the one that switched did; undefined when no switch made it (a first
 * start, an adoption). A switch being drained is the failover at step `switched`; a switch back
 * (the new active lost before the retire) leaves the reverted record in `lastFailover` with its
 * outgoing node the active again; a retired switch is the completed `lastFailover`.
 */
export function epochSwitch(persisted: PersistedState): EpochSwitch | undefined {
  const { epoch, failover, lastFailover: last } = persisted;
  if (failover?.step === 'switched') {
    const unplanned = failover.kind === 'unplanned';
    return { epoch, previousActive: failover.outgoing, active: failover.incoming, unplanned };
  }
  if (last?.result === 'reverted' && last.outgoing === persisted.active) {
    return { epoch, previousActive: last.incoming, active: last.outgoing, unplanned: true };
  }
  if (last?.result === 'completed' && last.incoming === persisted.active) {
    const unplanned = last.kind === 'unplanned';
    return { epoch, previousActive: last.outgoing, active: last.incoming, unplanned };
  }
  return undefined;
}
