// Coordination through etcd (docs/design.md, "High availability"). Each instance holds one lease
// of --etcd-lease-ms, renewed every retry period on a timer of its own (lease-renewal.ts: a
// renewal tries one member after another; nothing else asked of etcd can hold it up), and
// registers under `members/<id>` on it. The election is etcd's own recipe
// (client/v3/concurrency/election.go): the first instance to create the leader key on its lease
// leads, and the key's create revision is its fencing token; the others read the key every retry
// period and campaign again once it is gone (its holder resigned, or its lease expired), each only
// while its --announce answers as itself (announce-check.ts). A leader stops acting at its renew
// deadline (lease-timing.ts), before its lease can expire in etcd; every leader-only write is
// fenced (leader-guard.ts). Its live report is written beside its key (leader-report.ts).
import { EventEmitter } from 'node:events';
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { EventOutbox } from '../notify/outbox.js';
import type { AnnounceCheck } from './announce-check.js';
import type {
  Coordination,
  CoordinationEvents,
  CoordinationStatus,
  InstanceInfo,
  LeaderReport,
} from './coordination.js';
import { WarnThrottle } from '../log-throttle.js';
import { withDeadline } from './etcd-client.js';
import { etcdFailureKind, etcdFailureProblem } from './etcd-errors.js';
import { renewLease } from './lease-renewal.js';
import { EtcdOutbox } from './etcd-outbox.js';
import { EtcdRecentEvents, type EtcdRecentEventsOptions } from './etcd-recent-events.js';
import { EtcdStateStore } from './etcd-state-store.js';
import { registrationText, type GroupIdentity } from './group-identity.js';
import { EtcdMembership } from './etcd-membership.js';
import { parseInstance } from './instance-info.js';
import { groupKeys, type GroupKeys } from './keys.js';
import { LeaderReports } from './leader-report.js';
import { EtcdPastLeaders } from './past-leaders.js';
import type { GuardSource, LeaderGuard } from './leader-guard.js';
import {
  leaseRemainingMs,
  leaseTiming,
  withinRenewDeadline,
  type LeaseTiming,
} from './lease-timing.js';

export interface EtcdCoordinationOptions {
  /** Built with createEtcdClient (etcd-client.ts); closed by close() when `ownsClient`. */
  client: Etcd3;
  ownsClient?: boolean;
  self: InstanceInfo;
  /**
   * The master and nodes this instance manages: registered beside it, recorded by the group's
   * first leader, and compared with the group's before every campaign (group-identity.ts).
   */
  identity: GroupIdentity;
  prefix: string;
  group: string;
  leaseMs: number;
  logger: Logger;
  /** Monotonic milliseconds; tests may inject one. Default performance.now(). */
  now?: () => number;
  /** Whether --announce reaches this instance: it campaigns only while it does. */
  announceCheck?: Pick<AnnounceCheck, 'start' | 'stop' | 'verdict' | 'status'>;
}

/** One lease, with the keys on it: a session ends when its lease is lost or revoked. */
interface Session {
  lease: Lease;
  id: string;
  /** Whether `members/<id>` was written on this lease. */
  registered: boolean;
}

interface Leading {
  fence: number;
  session: Session;
}

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

export class EtcdCoordination implements Coordination, GuardSource {
  readonly self: InstanceInfo;
  readonly store: EtcdStateStore;
  readonly pastLeaders: EtcdPastLeaders;
  readonly keys: GroupKeys;
  readonly timing: LeaseTiming;
  private readonly events = new EventEmitter();
  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly now: () => number;
  private session: Session | undefined;
  private leading: Leading | undefined;
  /** When the last successful renewal (or the grant) of the current lease was sent. */
  private renewSentAt = -Infinity;
  /** When the last session ended (its lease lost, given up or revoked). */
  private sessionEndedAt = -Infinity;
  private ttlMs: number;
  private leader: InstanceInfo | null = null;
  private problem: string | null = 'not started';
  private takeovers = 0;
  private readonly reports: LeaderReports;
  private closed = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private renewing: Promise<void> = Promise.resolve();
  private readonly warnings = new WarnThrottle({ intervalMs: 60_000 });
  private readonly membership: EtcdMembership;

  constructor(private readonly options: EtcdCoordinationOptions) {
    this.self = options.self;
    this.client = options.client;
    this.log = options.logger.child({ component: 'coordination' });
    this.now = options.now ?? (() => performance.now());
    this.timing = leaseTiming(options.leaseMs);
    this.ttlMs = options.leaseMs;
    this.reports = new LeaderReports(Math.floor(options.leaseMs / 3));
    this.keys = groupKeys(options.prefix, options.group);
    this.store = new EtcdStateStore(this.client, this.keys.state, this, this.keys.leader);
    this.pastLeaders = new EtcdPastLeaders(this.client, this.keys.pastLeaders, this);
    this.membership = new EtcdMembership(
      this.client,
      this.keys,
      this.self,
      options.identity,
      this.log,
      options.announceCheck !== undefined,
    );
    // A listener-less 'error' would throw; this emitter has none.
    this.events.setMaxListeners(50);
  }

  async start(): Promise<void> {
    await this.tick();
  }

  listening(): void {
    this.options.announceCheck?.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.options.announceCheck?.stop();
    clearTimeout(this.tickTimer);
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.renewTimer);
    await this.ticking.catch(() => undefined);
    await this.renewing.catch(() => undefined);
    if (this.leading !== undefined) this.depose('resigned: this instance is closing');
    // Revoking the lease deletes the leader key and our registration: another instance is
    // elected at its next read, without waiting for the lease to expire.
    await this.endSession();
    if (this.options.ownsClient === true) this.client.close();
  }

  mayAct(): boolean {
    return (
      !this.closed &&
      this.leading !== undefined &&
      withinRenewDeadline(this.timing, this.renewSentAt, this.now())
    );
  }

  status(): CoordinationStatus {
    const leader = this.mayAct();
    return {
      leader,
      // Itself, no longer acting (its lease unrenewed: a pause, say): who leads now is unknown
      // until the next read, never this instance.
      leaderAnnounce:
        this.leader?.id === this.self.id && !leader ? null : (this.leader?.announce ?? null),
      leaseRemainingMs: leader ? leaseRemainingMs(this.ttlMs, this.renewSentAt, this.now()) : null,
      takeovers: this.takeovers,
      problem: this.problem,
      ...(this.options.announceCheck && { announceCheck: this.options.announceCheck.status() }),
    };
  }

  publishReport(report: LeaderReport): void {
    if (this.leading !== undefined) this.reports.publish(report, this.leading.fence);
  }

  leaderReport(): LeaderReport | null {
    return this.leading === undefined ? this.reports.read : null;
  }

  renewedLeaderReport(): LeaderReport | null {
    return this.leading === undefined ? this.reports.renewed() : null;
  }

  peers(): readonly InstanceInfo[] {
    return this.membership.others;
  }

  groupLeaseMs(): number | undefined {
    return this.membership.groupLeaseMs();
  }

  async recordLeadership(): Promise<readonly string[]> {
    const { before, problem } = await this.pastLeaders.record(this.self.announce);
    if (problem !== undefined) {
      this.log.warn({ key: this.keys.pastLeaders, problem }, 'past leaders: garbage dropped');
    }
    return before;
  }

  on<E extends keyof CoordinationEvents>(event: E, listener: CoordinationEvents[E]): this {
    this.events.on(event, listener);
    return this;
  }

  off<E extends keyof CoordinationEvents>(event: E, listener: CoordinationEvents[E]): this {
    this.events.off(event, listener);
    return this;
  }

  /** The fence of leader-only writes (leader-guard.ts): only while this instance may act. */
  guard(): LeaderGuard | undefined {
    if (!this.mayAct() || this.leading === undefined) return undefined;
    return {
      leaderKey: this.keys.leader,
      fence: this.leading.fence,
      leaseId: this.leading.session.id,
      writer: { id: this.self.id, announce: this.self.announce },
    };
  }

  fenceLost(reason: string): void {
    if (this.leading !== undefined) this.depose(reason);
  }

  /** The outbox of one webhook endpoint in etcd, for WebhookOptions.outboxFactory. */
  outboxFactory(logger: Logger): (endpoint: string) => EventOutbox {
    return (endpoint) => new EtcdOutbox(this.client, this.keys.outbox(endpoint), this, logger);
  }

  /** The group's recent events in etcd: the leader records (fenced), every instance reads. */
  recentEvents(logger: Logger, options: EtcdRecentEventsOptions = {}): EtcdRecentEvents {
    return new EtcdRecentEvents(this.client, this.keys.events, this, logger, options);
  }

  // ---- the loop ------------------------------------------------------------------------------

  private tick(): Promise<void> {
    this.ticking = this.round()
      .catch((error: unknown) => this.failed(error))
      .finally(() => {
        if (!this.closed) {
          this.tickTimer = setTimeout(() => void this.tick(), this.timing.retryPeriodMs);
        }
      });
    return this.ticking;
  }

  /** One retry period: a lease (renewed on its own timer), then campaign or check the leader key. */
  private async round(): Promise<void> {
    if (this.closed) return;
    // An instance whose lease was just lost (the renewal found out between two rounds) waits a
    // round before it asks for a new one: the others, whose rounds may run in step with its own,
    // campaign first.
    const sinceLost = this.now() - this.sessionEndedAt;
    if (this.session === undefined && sinceLost < this.timing.retryPeriodMs) return;
    const session = await this.ensureSession();
    if (this.closed) return;
    // The registrations first: an instance whose --announce (or id) another live instance holds
    // would point the nodes at that instance's address, so it must not lead.
    const conflict = await this.membership.read(session.id, this.problem);
    if (this.closed) return;
    if (conflict !== null) {
      if (this.leading !== undefined) this.depose(conflict);
      await this.readLeader();
      this.problem = conflict;
      return;
    }
    const own = this.options.announceCheck?.verdict(this.leading !== undefined);
    if (own?.campaign === false && this.leading !== undefined) {
      // Resigned: the leader key goes with the lease, so a follower is elected at once.
      this.problem = own.problem;
      this.depose(own.problem ?? '--announce does not reach this instance');
      return void (await this.endSession());
    }
    await this.campaign(session, own?.campaign ?? true);
    await this.recordIdentity(session);
    await this.writeReport(session);
    this.problem = own?.problem ?? null;
  }

  /** Who leads, without campaigning. */
  private async readLeader(): Promise<void> {
    const text = await this.client.get(this.keys.leader).string();
    this.leader = text === null ? null : parseInstance(text);
  }

  /** The current session, or a new lease (granted, then registered on). */
  private async ensureSession(): Promise<Session> {
    if (this.session === undefined) {
      const sentAt = this.now();
      const lease = this.client.lease(this.timing.ttlSeconds, { autoKeepAlive: false });
      // A lease whose grant failed is dropped; the next round asks for a new one.
      lease.on('lost', () => undefined);
      let id: string;
      try {
        // Each attempt has the client's deadline, on another member each: all within the budget
        // of a renewal.
        id = await withDeadline(lease.grant(), this.timing.renewDeadlineMs, 'lease grant');
      } catch (error) {
        lease.release();
        throw error;
      }
      this.session = { lease, id, registered: false };
      this.renewed(sentAt, this.timing.ttlSeconds);
      this.scheduleRenewal(this.timing.retryPeriodMs);
    }
    const session = this.session;
    if (!session.registered) {
      await this.client
        .put(this.keys.member(this.self.id))
        .value(registrationText(this.self, this.options.identity))
        .lease(session.id);
      session.registered = true;
    }
    return session;
  }

  private scheduleRenewal(delayMs: number): void {
    clearTimeout(this.renewTimer);
    if (this.closed) return;
    this.renewTimer = setTimeout(() => {
      this.renewing = this.renew();
    }, delayMs);
  }

  /**
   * Renews the session's lease, a retry period after the last renewal was sent: from one member
   * to the next until one answers, up to the renew deadline (past it, the leadership is gone
   * whatever the answer). A failure other than a lost lease is left to that deadline.
   */
  private async renew(): Promise<void> {
    const session = this.session;
    if (this.closed || session === undefined) return;
    const { callTimeoutMs, renewDeadlineMs, retryPeriodMs } = this.timing;
    let next = retryPeriodMs;
    try {
      const renewal = await renewLease(session.lease, {
        attemptMs: callTimeoutMs,
        until: Math.max(this.renewSentAt + renewDeadlineMs, this.now() + callTimeoutMs),
        now: this.now,
      });
      if (this.session !== session) return;
      this.renewed(renewal.sentAt, renewal.ttlSeconds);
      next = Math.max(0, renewal.sentAt + retryPeriodMs - this.now());
    } catch (error) {
      if (this.closed || this.session !== session) return;
      if (etcdFailureKind(error) === 'lease-lost') {
        this.failed(error);
        return;
      }
      this.warnings.warn(this.log, 'renewal', { err: describe(error) }, 'lease renewal failed');
    } finally {
      if (this.session === session) this.scheduleRenewal(next);
    }
  }

  /** A renewal sent at `sentAt` succeeded: the lease holds until at least sentAt + TTL. */
  private renewed(sentAt: number, ttlSeconds: number): void {
    if (sentAt > this.renewSentAt) this.renewSentAt = sentAt;
    this.ttlMs = ttlSeconds * 1_000;
    if (this.leading !== undefined) this.armDeadline();
  }

  /** Creates the leader key if nobody holds it (unless `create` is false), else reads it. */
  private async campaign(session: Session, create: boolean): Promise<void> {
    const key = this.keys.leader;
    const result = await this.client
      .if(key, 'Create', '==', create ? 0 : -1)
      .then(this.client.put(key).value(JSON.stringify(this.self)).lease(session.id))
      .else(this.client.get(key), this.client.get(this.keys.leaderStatus))
      .commit();
    if (this.closed || this.session !== session) return;
    if (result.succeeded) {
      // Created now: a leader whose key was deleted (by hand, say) holds a new fence from here on,
      // and what it was doing under the old one stops first.
      if (this.leading !== undefined) this.depose('the leader key was deleted');
      this.leader = this.self;
      this.elect(Number(result.header.revision), session);
      return;
    }
    const kv = result.responses[0]?.response_range?.kvs[0];
    if (kv === undefined) {
      // Deleted between the compare and the read cannot happen in one transaction; an empty
      // answer means nobody leads right now, so the next round campaigns again.
      this.leader = null;
      this.reports.forget();
      return;
    }
    this.leader = parseInstance(kv.value.toString());
    const fence = Number(kv.create_revision);
    this.store.leaders.seen({ fence, id: this.leader?.id ?? '' }, Number(result.header.revision));
    const reportKv = result.responses[1]?.response_range?.kvs[0];
    this.reports.readFrom(reportKv?.value.toString(), fence);
    const ours = kv.lease === session.id;
    if (this.leading !== undefined) {
      if (!ours || fence !== this.leading.fence) this.depose('another instance leads now');
      return;
    }
    // The key on our own lease: we created it (a campaign whose answer was lost). Not to be
    // kept while this instance may not campaign: the lease goes, the key with it.
    if (ours && create) this.elect(fence, session);
    else if (ours) void this.endSession();
  }

  private elect(fence: number, session: Session): void {
    if (this.leading !== undefined) return;
    if (!withinRenewDeadline(this.timing, this.renewSentAt, this.now())) return;
    this.leading = { fence, session };
    this.store.leaders.seen({ fence, id: this.self.id }, fence);
    this.reports.reset();
    this.takeovers += 1;
    this.armDeadline();
    this.log.info({ fence, instance: this.self.id }, 'elected: this instance leads the group');
    this.events.emit('elected', fence);
  }

  /** The leader's report when due (leader-report.ts); on the leader's lease, it goes with it. */
  private async writeReport(session: Session): Promise<void> {
    const write = this.reports.due(this.now());
    if (this.leading?.session !== session || write === undefined) return;
    await this.client.put(this.keys.leaderStatus).value(write.text).lease(session.id);
    this.reports.wrote(write, this.now());
  }

  private async recordIdentity(session: Session): Promise<void> {
    const guard = this.guard();
    if (guard !== undefined && this.leading?.session === session) {
      await this.membership.recordIdentity(guard);
    }
  }

  /** A round failed: etcd did not answer, refused, or has no quorum. */
  private failed(error: unknown): void {
    if (this.closed) return;
    const kind = etcdFailureKind(error);
    const lost = kind === 'lease-lost';
    this.problem = etcdFailureProblem(kind, error);
    this.leader = null;
    this.reports.forget();
    // A round fails every retry period for as long as the cause lasts (a wrong password, forever):
    // one warning per kind and minute, the rest at debug.
    this.warnings.warn(this.log, kind, { err: describe(error), kind }, 'etcd round failed');
    if (lost) {
      if (this.leading !== undefined) this.depose('lease lost');
      void this.endSession();
    }
  }

  /** Deposes at the renew deadline unless a later renewal moves it. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const left = this.renewSentAt + this.timing.renewDeadlineMs - this.now();
    this.deadlineTimer = setTimeout(
      () => {
        if (this.leading === undefined || this.mayAct()) {
          if (this.leading !== undefined) this.armDeadline();
          return;
        }
        this.problem ??= 'lease not renewed in time';
        this.depose(`lease not renewed within ${this.timing.renewDeadlineMs} ms`);
        // Our keys may outlive us in etcd until the lease expires: start afresh with a new lease.
        void this.endSession();
      },
      Math.max(0, left),
    );
  }

  private depose(reason: string): void {
    if (this.leading === undefined) return;
    this.leading = undefined;
    clearTimeout(this.deadlineTimer);
    this.log.warn({ reason, instance: this.self.id }, 'deposed: this instance stops acting');
    this.events.emit('deposed', reason);
  }

  /** Revokes the current lease (best effort, bounded): its keys go with it. */
  private async endSession(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    this.session = undefined;
    this.renewSentAt = -Infinity;
    this.sessionEndedAt = this.now();
    await withDeadline(
      session.lease.revoke({ deadline: Date.now() + this.timing.callTimeoutMs }),
      this.timing.callTimeoutMs,
      'lease revoke',
    ).catch((error: unknown) => {
      // It expires on its own within a lease.
      this.log.debug({ err: describe(error) }, 'lease revoke failed');
    });
  }
}
