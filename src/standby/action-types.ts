// What an action returns (Outcome) and what it is given (ActionContext): the contract between
// the failover actions and the engine that commits their outcomes (persist, then announce: I3,
// docs/design.md, "Persist, then announce").
import type { Logger } from 'pino';
import type { EventData, EventType } from '../notify/events.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
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
  /**
   * The events go into `state` (`unannounced`), saved in the same atomic write, and are dropped
   * from it once every durable channel has them: a kill -9 in between cannot lose them. Only
   * with `state` (the commit throws otherwise).
   */
  announceDurably?: true;
  /** A new attempt to sync the incoming node began (its sync timeout counts from now). */
  syncAttemptStarted?: true;
  /** A failure of the incoming node's sync may be announced again. */
  standbyFailureCleared?: true;
  /** The failover whose promotion is now announced (active.promoted goes out once per failover). */
  promotionAnnounced?: string;
  /** The master loss that started the failover is over. */
  masterLossOver?: true;
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
  sessions: SessionSource;
  now: () => number;
  log: Logger;
  /** The failover whose promotion was announced, if any. */
  promotionAnnounced: string | undefined;
  /** Persists, then announces `outcome` now, before the action's next command. */
  commit: (outcome: Outcome) => Promise<void>;
}
