// The shapes of a leadership term (leadership.ts): what the app builds for each term, what a
// term holds while this instance leads, and what Leadership shows of the group.
import type { Logger } from 'pino';
import type { DurableSink } from '../notify/events.js';
import type { WebhookStatus } from '../notify/webhooks.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { SessionEvent } from '../proxy/session-types.js';
import type { FailoverEngine } from '../standby/engine.js';
import type { NodeControl, SessionHandle, SessionSource } from '../standby/ports.js';
import type { AddressVerdict } from './address-check.js';
import type { Coordination, CoordinationStatus, InstanceInfo } from './coordination.js';

/** What the app, the proxy, discovery and the admin API use of the failover engine. */
export type GroupEngine = Pick<
  FailoverEngine,
  | 'gate'
  | 'holdsSync'
  | 'roles'
  | 'currentSwitch'
  | 'request'
  | 'ready'
  | 'notReady'
  | 'state'
  | 'stopping'
  | 'status'
  | 'onMasterProbe'
  | 'load'
  | 'start'
  | 'stop'
>;

/**
 * The webhooks of one term: the leader alone delivers, from the group's outbox in etcd, which it
 * reads when its term begins (what the previous leader left undelivered goes out again, same ids).
 */
export interface TermWebhooks extends DurableSink {
  start(): Promise<void>;
  close(): Promise<void>;
  status(): WebhookStatus[];
}

/** The master probe of one term (a stopped MasterProbe does not start again). */
export interface TermProbe {
  start(): void;
  stop(): void;
  reconnect(): void;
  readonly lastError: string | undefined;
}

export interface LeadershipOptions {
  coordination: Coordination;
  /**
   * A new engine (on coordination.store) and probe for one term. The engine must be given
   * `sessions` as its SessionSource and `mayAct` as its mayAct, the probe's changes must reach
   * Leadership's onMasterProbe.
   */
  buildTerm(
    sessions: SessionSource,
    mayAct: () => boolean,
  ): { engine: FailoverEngine; probe: TermProbe; webhooks?: TermWebhooks };
  /** The proxy's sessions. */
  sessions: SessionSource;
  nodes: readonly ReplicaNode[];
  /** Commands on the nodes, for the takeover (fenced here). */
  ops: NodeControl;
  /** What answers at a past leader's address (address-check.ts), before a replica of it moves. */
  checkAddress: (announce: string) => Promise<AddressVerdict>;
  /** How often the group's state and the other instances are read from etcd. */
  pollMs: number;
  /** The lease: how long a view read from etcd may name a node (view-freshness.ts). */
  leaseMs: number;
  /** Monotonic milliseconds; tests may inject one. Default performance.now(). */
  now?: () => number;
  logger: Logger;
}

export type SessionListener = (session: SessionHandle, event: SessionEvent) => void;

export interface Term {
  engine: FailoverEngine;
  probe: TermProbe;
  webhooks?: TermWebhooks | undefined;
  /** Shut the moment the instance is deposed: the engine's fence and its session events. */
  live: boolean;
  /** Every node was seen following this instance or no other: the takeover is done. */
  settled: boolean;
  /** The group's past leaders before this term (recorded in etcd when it began). */
  pastLeaders: readonly string[];
  /** The replicas left alone so far, logged once each (node, the address it follows, why). */
  leftAlone: Set<string>;
  /**
   * Past leaders' addresses (addressKey) found foreign this term: a replica of one does not make
   * a poll begin a round (repoint-round.ts), so such an address is not asked every poll.
   */
  foreign: Set<string>;
  /** The engine read the state: until then the term answers as a follower does. */
  loaded: boolean;
  /** The engine runs (after the first takeover round). */
  running: boolean;
  /**
   * Why the group's state could not be trusted when the term began (corrupt, or naming other
   * nodes): the term touches no node, and a new term begins once the state reads well again.
   */
  unusable: string | undefined;
  listeners: SessionListener[];
}

export interface LeadershipStatus extends CoordinationStatus {
  /** The other instances of the group (as `SENTINEL sentinels` lists them). */
  peers: InstanceInfo[];
}
