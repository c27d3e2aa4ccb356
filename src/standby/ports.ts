// What the failover engine needs from the world around it, and nothing more: the proxy's replica
// sessions, the master's health, commands on the replicas. (Where the state is kept is the fourth:
// state-store.ts.) MasterProbe and NodeOps implement these, and so do the unit tests' fakes, so
// the engine can be driven without sockets or Redis. ProxyServer satisfies SessionSource without
// naming it: the proxy is the lower layer and imports nothing from here; app.ts, which hands it
// to the engine, is where the compiler checks it.
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { SessionCloseReason, SessionEvent, SessionPhase } from '../proxy/session-types.js';
import type { NodeView } from './node-view.js';
import type { SavedConfig } from './persisted-state.js';

/** One replica's live session through the proxy, as the engine sees it. */
export interface SessionHandle {
  readonly id: string;
  readonly node: ReplicaNode;
  readonly phase: SessionPhase;
  /** Ends the session (the replica reconnects and asks again, through the gate). */
  close(reason: SessionCloseReason): void;
}

/**
 * The proxy's sessions: the current one of each configured replica, and every step of each
 * session's life as it happens. The engine tracks sync progress from these events; the full-sync
 * gate goes the other way (the engine's `gate`, handed to the proxy when it is built).
 */
export interface SessionSource {
  /** The replica's current session, if it has one. */
  sessionFor(nodeId: string): SessionHandle | undefined;
  on(
    event: 'session-event',
    listener: (session: SessionHandle, event: SessionEvent) => void,
  ): unknown;
}

/** The master health probe's verdict (its changes also reach the engine's onMasterProbe). */
export interface MasterHealth {
  /** False once the probe failed --probe-failures times in a row, until it answers again. */
  readonly up: boolean;
  readonly lastError: string | undefined;
  /**
   * The master's keys (INFO keyspace) over the probe's connection; undefined when it cannot be
   * read now (no connection, a timeout, an ACL without INFO). Never throws.
   */
  keys?(): Promise<number | undefined>;
}

/**
 * Commands on the replicas over rbuddy's control connections. Each has a timeout and throws when
 * it fails (the engine retries with backoff), except view(): an unreachable node is an
 * observation, not a failure.
 */
export interface NodeControl {
  /** INFO and the guarded settings; never throws (an unreachable node is `reachable: false`). */
  view(node: ReplicaNode): Promise<NodeView>;
  /** The node's current values of the settings the write guard changes. */
  configGet(node: ReplicaNode): Promise<SavedConfig>;
  /** Sets the write guard: every write fails loudly (-NOREPLICAS), reads keep working. */
  guardWrites(node: ReplicaNode): Promise<void>;
  restoreConfig(node: ReplicaNode, saved: SavedConfig): Promise<void>;
  /** REPLICAOF NO ONE. */
  detach(node: ReplicaNode): Promise<void>;
  /** REPLICAOF <the proxy's announce address>. */
  attach(node: ReplicaNode): Promise<void>;
  /** CLIENT KILL of the normal and pub/sub clients (not rbuddy's own connection). */
  killClients(node: ReplicaNode): Promise<void>;
  /** FLUSHALL ASYNC. */
  flush(node: ReplicaNode): Promise<void>;
  /**
   * One MULTI/EXEC: FLUSHALL ASYNC (when `flush`), the write-guard settings of `restore` back,
   * replica-serve-stale-data no, REPLICAOF <the proxy's announce address>. Every reply checked.
   */
  makeIdleStandby(
    node: ReplicaNode,
    options: { restore: SavedConfig; flush: boolean },
  ): Promise<void>;
}
