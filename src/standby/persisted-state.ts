// What rbuddy persists in --state-dir (state.json): the roles, the epoch, and where an ongoing
// failover stands. It is written atomically (temp file, fsync, rename, fsync of the directory)
// BEFORE anything acts on or announces a change (SPEC §5 I2, I3), so that a restart at any
// step resumes from the truth and never flushes the wrong node.
import type { RbuddyEvent } from '../notify/events.js';

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
   * The run_id of the incoming node verified synced when the switch was held: a confirm
   * switches only to that very process. Absent in files written before this field.
   */
  syncedRunId?: string | null;
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
  failover: FailoverRecord | null;
  /** The last completed (or aborted) failover, for /v1/status. */
  lastFailover: (FailoverRecord & { endedAt: string; result: 'completed' | 'aborted' }) | null;
  /**
   * Events that announce this state, saved in the same atomic write as the state itself, until
   * every durable channel (the webhook outboxes) holds them. A process killed between the two
   * writes leaves them here, and the next one sends them with the same ids (SPEC §6). Absent in
   * files written before this field existed.
   */
  unannounced?: RbuddyEvent[];
}
