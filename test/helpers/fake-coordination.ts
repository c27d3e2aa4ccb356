// An in-memory stand-in for etcd and the Coordination of each rbuddy instance on it (the seam of
// src/ha/coordination.ts), for tests of the leader/follower wiring without etcd: a FakeGroup holds
// the group's state and who leads; the test elects, deposes and takes the quorum away. Saves are
// fenced like etcd's transactions: only the leader's, and only while the group has a quorum.
import { EventEmitter } from 'node:events';
import type {
  Coordination,
  CoordinationEvents,
  CoordinationStatus,
  GroupStateStore,
  InstanceInfo,
  LeaderReport,
} from '../../src/ha/coordination.js';
import { withLeader } from '../../src/ha/past-leaders.js';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import type { LoadResult } from '../../src/standby/state-store.js';

export const LEASE_MS = 5000;

export class FakeGroup {
  state: PersistedState | undefined;
  /** Every save that landed, with who made it (a fenced history, as etcd's revisions). */
  readonly saves: Array<{ by: string; state: PersistedState }> = [];
  leader: FakeCoordination | undefined;
  readonly members = new Set<FakeCoordination>();
  problem: string | null = null;
  /** The past leaders' --announce, oldest first (recorded by each leader, fenced). */
  pastLeaders: string[] = [];
  /** Set by a test: the state key holds garbage (loads answer corrupt with this reason). */
  corrupt: string | undefined;
  /**
   * Set by a test: the state key holds a value no leader wrote (loads answer corrupt, untrusted,
   * with this reason) until a save replaces it.
   */
  notLeaderWritten: string | undefined;
  /** What the store's history gives as the last version a leader wrote (undefined: none). */
  leaderWritten: PersistedState | undefined;
  /** The group's recorded --etcd-lease-ms (undefined: none recorded). */
  leaseMs: number | undefined;
  private revision = 0;
  /** The live state the leader last published, with who published it (on its lease). */
  report: { by: FakeCoordination; report: LeaderReport } | undefined;

  constructor(readonly key = '/rbuddy/test/state') {}

  join(self: InstanceInfo): FakeCoordination {
    return new FakeCoordination(this, self);
  }

  /** `member` leads from now on; whoever led before is deposed first. */
  elect(member: FakeCoordination): void {
    this.leader?.deposedBy(`${member.self.id} was elected`);
    this.leader = member;
    this.revision += 1;
    member.electedWith(this.revision);
  }

  /** Nobody leads (the leader lost its lease). */
  depose(reason = 'lease lost'): void {
    const leader = this.leader;
    this.leader = undefined;
    leader?.deposedBy(reason);
  }

  /** etcd without a quorum: nothing reads or writes, the leader stops leading. */
  loseQuorum(reason = 'etcd has no quorum'): void {
    this.problem = reason;
    this.depose(reason);
  }

  quorumBack(): void {
    this.problem = null;
  }

  /** The current leader's report; a previous leader's does not count. */
  leaderReport(): LeaderReport | null {
    const report = this.report;
    return report !== undefined && report.by === this.leader ? report.report : null;
  }

  /** @internal */
  recordLeader(by: FakeCoordination): string[] {
    this.fence(by);
    const before = [...this.pastLeaders];
    this.pastLeaders = withLeader(before, by.self.announce);
    return before;
  }

  /** @internal */
  write(by: FakeCoordination, state: PersistedState): void {
    this.fence(by);
    this.state = structuredClone(state);
    this.notLeaderWritten = undefined;
    this.saves.push({ by: by.self.id, state: structuredClone(state) });
  }

  /** What etcd's fenced transactions check: a quorum, and the writer leads. */
  private fence(by: FakeCoordination): void {
    if (this.problem !== null) throw new Error(`etcd: ${this.problem}`);
    if (this.leader !== by) throw new Error(`not the leader: ${by.self.id} may not save`);
  }
}

export class FakeCoordination implements Coordination {
  private readonly emitter = new EventEmitter();
  private takeoverCount = 0;
  started = false;
  closed = false;
  /** Set by a test: the leader's lease was not renewed in time (mayAct false, still leader). */
  renewLate = false;
  /** Set by a test: this instance alone cannot reach etcd (its reads fail, the others' do not). */
  cutOff = false;
  readonly store: GroupStateStore;

  constructor(
    private readonly group: FakeGroup,
    readonly self: InstanceInfo,
  ) {
    this.store = {
      file: `etcd:${group.key}`,
      load: (): Promise<LoadResult> => {
        if (group.problem !== null) return Promise.reject(new Error(`etcd: ${group.problem}`));
        if (this.cutOff) return Promise.reject(new Error('etcd: unreachable from this instance'));
        if (group.corrupt !== undefined) {
          return Promise.resolve({ kind: 'corrupt', file: this.store.file, why: group.corrupt });
        }
        if (group.notLeaderWritten !== undefined) {
          const why = group.notLeaderWritten;
          return Promise.resolve({ kind: 'corrupt', file: this.store.file, why, untrusted: true });
        }
        const state = group.state;
        return Promise.resolve(
          state === undefined
            ? { kind: 'missing', file: this.store.file }
            : { kind: 'ok', file: this.store.file, state: structuredClone(state) },
        );
      },
      lastLeaderWritten: () => Promise.resolve(structuredClone(group.leaderWritten)),
      save: (state: PersistedState): Promise<void> => {
        try {
          group.write(this, state);
          return Promise.resolve();
        } catch (error) {
          return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
      },
    };
  }

  start(): Promise<void> {
    this.started = true;
    this.group.members.add(this);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.group.members.delete(this);
    if (this.group.leader === this) this.group.depose(`${this.self.id} resigned`);
    return Promise.resolve();
  }

  get leads(): boolean {
    return this.group.leader === this;
  }

  mayAct(): boolean {
    return this.leads && !this.renewLate && this.group.problem === null;
  }

  status(): CoordinationStatus {
    return {
      leader: this.leads,
      leaderAnnounce: this.group.leader?.self.announce ?? null,
      leaseRemainingMs: this.leads ? LEASE_MS : null,
      takeovers: this.takeoverCount,
      problem: this.cutOff ? 'etcd unreachable from this instance' : this.group.problem,
    };
  }

  publishReport(report: LeaderReport): void {
    if (this.leads && this.group.problem === null) this.group.report = { by: this, report };
  }

  leaderReport(): LeaderReport | null {
    return this.leads ? null : this.group.leaderReport();
  }

  /** A fake leader's report is always its live one (etcd's beat: ha-etcd-restore). */
  renewedLeaderReport(): LeaderReport | null {
    return this.leaderReport();
  }

  peers(): readonly InstanceInfo[] {
    return [...this.group.members].filter((m) => m !== this).map((m) => m.self);
  }

  groupLeaseMs(): number | undefined {
    return this.group.leaseMs;
  }

  recordLeadership(): Promise<readonly string[]> {
    try {
      return Promise.resolve(this.group.recordLeader(this));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  on<E extends keyof CoordinationEvents>(event: E, listener: CoordinationEvents[E]): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<E extends keyof CoordinationEvents>(event: E, listener: CoordinationEvents[E]): this {
    this.emitter.off(event, listener);
    return this;
  }

  /** @internal */
  electedWith(fence: number): void {
    this.takeoverCount += 1;
    this.emitter.emit('elected', fence);
  }

  /** @internal */
  deposedBy(reason: string): void {
    this.emitter.emit('deposed', reason);
  }
}
