// The failover actions decide() may plan (Action), what an action returns (Outcome) and what it
// is given (ActionContext): the contract between the decision, the actions (actions.ts) and the
// engine that commits their outcomes (persist, then announce: I3, docs/design.md, "Persist, then
// announce").
import type { Logger } from 'pino';
import type { EventData, EventType } from '../notify/events.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { ActiveHeldInMemory } from './active-hold.js';
import type { PersistedState } from './persisted-state.js';
import type { NodeControl, SessionSource } from './ports.js';

/** An event to send once the state it announces is persisted; roles and epoch come from it. */
export interface Announcement {
  type: EventType;
  data: Partial<EventData>;
}

/** What an action (or one step of it) changed, for the engine to commit. */
export interface Outcome {
  /** The next persisted state. The engine saves it before it announces anything. */
  state?: PersistedState;
  /**
   * The active holds its dataset (activeHoldsData): marked in memory before the write lands, so
   * the gate protects it from this moment (StateKeeper.markActiveHoldsData). Not with `state`:
   * nothing else is ever held in memory ahead of the disk.
   */
  markActiveHoldsData?: true;
  /** Events announcing the persisted state (`state` once saved, else the current one). */
  announce?: Announcement[];
  /** A new attempt to sync the incoming node began (its sync timeout counts from now). */
  syncAttemptStarted?: true;
  /** A failure of the incoming node's sync may be announced again. */
  standbyFailureCleared?: true;
  /** The failover whose promotion is now announced (active.promoted goes out once per failover). */
  promotionAnnounced?: string;
  /** The master loss that started the failover is over. */
  masterLossOver?: true;
  /**
   * The active, back empty, is held by this process (active-hold.ts): kept in memory, not saved,
   * until the state records the hold. Committed before the commands that hold it, so that the
   * proxy holds its sync from the first attempt.
   */
  activeHeld?: ActiveHeldInMemory;
  /** Logged once committed: a write that failed must not be reported as done. */
  note?: { level: 'info' | 'warn'; fields: Record<string, unknown>; message: string };
}

export interface ActionContext {
  /** The persisted state as the action starts (the engine's, with what earlier actions saved). */
  persisted: PersistedState;
  /** The nodes the persisted roles name active and standby. */
  activeNode: ReplicaNode;
  standbyNode: ReplicaNode;
  ops: NodeControl;
  /** The master's keys, when they can be read (MasterHealth.keys). */
  masterKeys: () => Promise<number | undefined>;
  sessions: SessionSource;
  now: () => number;
  log: Logger;
  /** The failover whose promotion was announced, if any. */
  promotionAnnounced: string | undefined;
  /** The active held in memory by this process (not on disk yet), if it is. */
  heldActive: ActiveHeldInMemory | undefined;
  /** Persists, then announces `outcome` now, before the action's next command. */
  commit: (outcome: Outcome) => Promise<void>;
}

/** What decide() plans (decide.ts) and runAction() carries out (actions.ts). */
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
   * the promotion (planned failovers, or an active that already is a master). `activeHeld`: the
   * active came back empty and hold-active, planned right before, held it; the record carries
   * the hold (its `active-held` mark) and the settings read before it.
   */
  | {
      kind: 'begin-failover';
      failoverKind: 'unplanned' | 'planned';
      reason: string;
      promote?: boolean;
      activeHeld?: true;
    }
  /** Write guard + REPLICAOF NO ONE on the outgoing active. */
  | { kind: 'promote' }
  /**
   * The outgoing active, back empty, held as the idle standby is (isEmptyMaster, restartedEmpty):
   * at once, in memory until the state records it (active-hold.ts).
   */
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
