// The seam between one rbuddy instance and the others of its group (docs/design.md, "High
// availability"): who leads, whether this instance may act right now, where the group's state and
// outbox live, and which other instances exist. Without --etcd there is no Coordination at all and
// the app runs as one process on its state dir. With --etcd, etcd-coordination.ts implements it;
// the app (app.ts) starts the failover engine only while this instance leads, and the engine asks
// mayAct() before every destructive step.
import type { PersistedState } from '../standby/persisted-state.js';
import type { StateStore } from '../standby/state-store.js';
import type { EngineState } from '../standby/states.js';
import type { AnnounceCheckStatus } from './announce-check.js';

/** One rbuddy instance of the group, as the others see it (its registration in etcd). */
export interface InstanceInfo {
  /** Stable for the instance's lifetime; unique in the group. */
  readonly id: string;
  /** Its --announce (`host:port`): where replicas reach it, and its Sentinel address. */
  readonly announce: string;
  /** Its admin API (`host:port`). */
  readonly http: string;
}

export interface CoordinationStatus {
  /** This instance leads the group now. */
  leader: boolean;
  /** The leader's announce address, null while nobody leads (or etcd cannot be read). */
  leaderAnnounce: string | null;
  /** The lease's time left as this instance last saw it renewed; null when it does not lead. */
  leaseRemainingMs: number | null;
  /** Times this instance became the leader. */
  takeovers: number;
  /** Why this instance cannot act (no quorum, lease not renewed…), null when all is well. */
  problem: string | null;
  /** Whether its --announce reaches it (announce-check.ts); absent where it is not checked. */
  announceCheck?: AnnounceCheckStatus;
}

/**
 * What the leader observes live and never saves in the group's state (its master probe's verdict,
 * a degraded or master-lost state): published on its lease so that followers report it instead
 * of guessing. Only a report: not a fenced write, nothing is decided on it.
 */
export interface LeaderReport {
  state: EngineState;
  reason: string | null;
  masterUp: boolean;
  epoch: number | null;
}

export interface CoordinationEvents {
  /** This instance became the leader: the fencing token is the leader key's revision. */
  elected: (fence: number) => void;
  /** It stopped leading (resigned, lease lost, or a newer leader seen): stop acting now. */
  deposed: (reason: string) => void;
}

export interface Coordination {
  readonly self: InstanceInfo;
  /** Registers this instance and starts campaigning; resolves once etcd answered once. */
  start(): Promise<void>;
  /**
   * The RESP listeners are open: this instance may check that its --announce reaches it, and
   * campaigns only once it does (docs/ha.md).
   */
  listening?(): void;
  /** Resigns (if it leads) and revokes its lease, so another instance takes over at once. */
  close(): Promise<void>;
  /**
   * True only while this instance leads AND its lease was renewed recently enough that it cannot
   * have expired anywhere (a renew deadline shorter than the lease, as client-go's leader
   * election does). Checked before every destructive step; false stops the engine acting.
   */
  mayAct(): boolean;
  status(): CoordinationStatus;
  /**
   * The leader publishes its live state (a no-op when it does not lead). Written when it changed,
   * at most once per round, on the leader's lease: it goes with the lease.
   */
  publishReport(report: LeaderReport): void;
  /**
   * A follower: the current leader's last published report, null when none (no leader, or the
   * leader has published none yet: a previous leader's report never stands for the current one).
   */
  leaderReport(): LeaderReport | null;
  /**
   * leaderReport(), once the leader was seen writing it again (its beat, leader-report.ts): only
   * such a report speaks for a leader alive now, not one etcd restored with its leader key.
   */
  renewedLeaderReport(): LeaderReport | null;
  /** The other live instances of the group (SENTINEL sentinels). */
  peers(): readonly InstanceInfo[];
  /**
   * The group's lease as its first leader recorded it (undefined: none recorded, or by an older
   * version): a follower trusts its view no longer than that, whatever its own --etcd-lease-ms.
   */
  groupLeaseMs(): number | undefined;
  /**
   * Adds this instance's --announce to the group's past leaders (durable: on no lease), fenced
   * like save(), and resolves with the past leaders as they stood before, oldest first: the
   * addresses a replica may still follow from an earlier leader, even one this instance never
   * saw (docs/ha.md, "Which replicas are repointed"). Called when elected, before any node is
   * touched.
   */
  recordLeadership(): Promise<readonly string[]>;
  /**
   * The group's state in etcd. load() works for everyone (followers answer discovery from it);
   * save() is a transaction that holds only while this instance leads with the fencing token it
   * was elected with: a deposed leader's save rejects with NotLeaderError and changes nothing.
   */
  readonly store: GroupStateStore;
  on<E extends keyof CoordinationEvents>(event: E, listener: CoordinationEvents[E]): unknown;
  off<E extends keyof CoordinationEvents>(event: E, listener: CoordinationEvents[E]): unknown;
}

/** The group's state store, which may tell which versions its leaders wrote (docs/ha.md). */
export interface GroupStateStore extends StateStore {
  /**
   * The newest version of the state that a leader of the group wrote, from the store's history,
   * when the current one is not (`untrusted`); undefined when none can be found.
   */
  lastLeaderWritten?(): Promise<PersistedState | undefined>;
}
