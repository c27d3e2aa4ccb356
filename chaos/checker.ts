// The invariant checker: the counters of a run, the nodes we broke on purpose (whose failures
// are excused), and every violation with the history around it. Live checks call `check()`; the
// final checks over the whole history (chaos/final-checks.ts) call it too.
import type { History, Op } from './history.js';

export interface Violation {
  invariant: string;
  message: string;
  t: number;
  around: Op[];
}

/** After a node is back (SIGCONT, a link healed), its failures are excused this much longer. */
const SETTLE_MS = 2_000;
/**
 * A node back empty answers nils until rbuddy holds it: rbuddy probes each node every 250 ms
 * (`--probe-interval-ms` in chaos/topology.ts) and holds one back empty in its next round, so
 * 5 s is the probe timeout (1 s), its control connection's reconnect to a restarted server and
 * a round, with room to spare.
 */
export const BACK_EMPTY_HOLD_MS = 5_000;
/**
 * …and answers errors (held) until rbuddy names the other node active: the grace (1.5 s), the
 * drain (1 s), the probes, and when the other node must first take a full sync, that sync of the
 * run's dataset (12,001 keys of about 100 bytes: well under a second): 20 s is room to spare.
 */
export const BACK_EMPTY_REPLACE_MS = 20_000;

export class Checker {
  readonly violations: Violation[] = [];
  /** Invariant name → how many times it was checked. */
  readonly checks = new Map<string, number>();
  /** Invariant name → how many times it was due but not judged (excused): a 0 / 0 is a hole. */
  readonly skipped = new Map<string, number>();
  /** Invariant name → when it was last judged (ms of the run). */
  readonly lastJudged = new Map<string, number>();
  /** Digests judged at a quiet point mid-run, and at the settled end. */
  readonly digests = { midRun: 0, final: 0 };
  /** The schedule's calm windows (chaos/schedule.ts): those that reached a judged freshness read
   * and digest, those that ended at their bound without, and those the run's end cut short. */
  readonly calmWindows = { reached: 0, timedOut: 0, cut: 0 };
  readonly faults = new Map<string, number>();
  failovers = 0;
  reads = { ok: 0, failed: 0, excused: 0 };
  sentinelReads = { ok: 0, failed: 0, excused: 0, restarted: 0 };
  peakRssMb = 0;
  /** Full syncs in the replicas' logs, by verdict (harness/active-full-syncs.ts). */
  readonly fullSyncs = new Map<string, number>();
  /** Node → until when (ms of the run) its failures are excused; Infinity: until healed. */
  private readonly impaired = new Map<string, number>();
  /** Nodes that came back empty → when (ms of the run): excused, within bounds, until replaced. */
  private readonly backEmpty = new Map<string, number>();
  /** Node → when it last came back empty (ms of the run), kept for good. */
  private readonly lastBackEmpty = new Map<string, number>();
  /** Faults running now that can keep rbuddy from replacing a node back empty. */
  private obstacles = 0;
  /** When the last such fault ended (ms of the run). */
  private lastObstacleEnd = 0;
  /** The longest excuse a node back empty was given, to the moment it ended (ms). */
  longestBackEmptyMs = 0;
  /** The master's key count when last asked (the observer asks it every tick). */
  masterKeys: number | undefined;
  /** When rbuddy was last seen not `healthy` (or not answering), by the observer (ms of the run). */
  lastNotHealthy = 0;
  /** When the observer last saw rbuddy name another active, or a new epoch (ms of the run). */
  activeChangedAt = 0;
  /** The active's largest lag behind the master in time (chaos/offset-lag.ts), and the largest
   * judged: rbuddy healthy, the same active, nothing excusing it (ms). */
  maxLagMs = 0;
  maxJudgedLagMs = 0;

  constructor(readonly history: History) {}

  /**
   * Counts one check of `invariant`; records a violation when `held` is false, at `t` (ms of the
   * run) when it happened before it was seen (a line of a server's log).
   */
  check(
    invariant: string,
    held: boolean,
    message = '',
    data: Record<string, unknown> = {},
    t?: number,
  ): boolean {
    this.checks.set(invariant, (this.checks.get(invariant) ?? 0) + 1);
    this.lastJudged.set(invariant, this.history.now());
    if (held) return true;
    const op = this.history.record('violation', invariant, {
      data: { message, ...data },
      ...(t === undefined ? {} : { t }),
    });
    this.violations.push({
      invariant,
      message: `${message}${Object.keys(data).length > 0 ? ` ${JSON.stringify(data)}` : ''}`,
      t: op.t,
      around: [],
    });
    return false;
  }

  /** Counts a check of `invariant` that was due but not judged (an excuse held). */
  skip(invariant: string): void {
    this.skipped.set(invariant, (this.skipped.get(invariant) ?? 0) + 1);
  }

  /** Fills each violation's timeline once the run is over (the ops after it are known then). */
  settleTimelines(): void {
    for (const violation of this.violations) violation.around = this.history.around(violation.t);
  }

  get checkCount(): number {
    let total = 0;
    for (const count of this.checks.values()) total += count;
    return total;
  }

  impair(node: string): void {
    this.impaired.set(node, Infinity);
  }

  /**
   * Back: excused for `settleMs` more; or, a node that came back empty (`backEmpty`), until
   * rbuddy replaces it, within the bounds of `excusedBackEmpty`.
   */
  healed(node: string, backEmpty = false, settleMs = SETTLE_MS): void {
    const now = this.history.now();
    if (backEmpty) {
      this.backEmpty.set(node, now);
      this.lastBackEmpty.set(node, now);
      this.impaired.set(node, now);
    } else this.impaired.set(node, now + settleMs);
  }

  cameBackEmptyAt(node: string): number | undefined {
    return this.lastBackEmpty.get(node);
  }

  /** A fault that can keep rbuddy from replacing a node back empty began (true) or ended. */
  obstacle(running: boolean): void {
    this.obstacles += running ? 1 : -1;
    if (!running) this.lastObstacleEnd = this.history.now();
  }

  /** rbuddy says healthy: nodes that came back empty have been replaced or guarded again. */
  sawHealthy(): void {
    for (const node of [...this.backEmpty.keys()]) this.endBackEmpty(node, SETTLE_MS);
  }

  /** A node that came back empty serves the data again: its failures count from now on. */
  recovered(node: string): void {
    this.endBackEmpty(node, 0);
  }

  private endBackEmpty(node: string, settleMs: number): void {
    const since = this.backEmpty.get(node);
    if (since === undefined) return;
    const now = this.history.now();
    this.backEmpty.delete(node);
    this.longestBackEmptyMs = Math.max(this.longestBackEmptyMs, now - since);
    this.impaired.set(node, Math.max(this.impaired.get(node) ?? -1, now + settleMs));
  }

  /**
   * Failed reads on `node` are not judged: the run broke it (killed, stopped, or its link) and
   * it is not back yet, or back for less than the settling time; or it came back empty and
   * rbuddy may not have replaced it yet. That last excuse is bounded: it ends
   * `BACK_EMPTY_REPLACE_MS` after both the node's return and the end of the last fault that can
   * keep rbuddy from replacing it (the master, rbuddy, the other replica, a link, the state dir):
   * that long with nothing in the way, and the node `/active` names must answer with the data.
   * No bound beyond that: a storm that keeps killing the other node and the master (a 30-minute
   * run had one of over two minutes) leaves no copy to replace it with, and a cap of 90 s tried
   * here would have reported that as rbuddy's fault.
   */
  isImpaired(node: string): boolean {
    const now = this.history.now();
    if ((this.impaired.get(node) ?? -1) > now) return true;
    const since = this.backEmpty.get(node);
    if (since === undefined) return false;
    if (this.obstacles > 0) return true;
    return now <= Math.max(since, this.lastObstacleEnd) + BACK_EMPTY_REPLACE_MS;
  }

  /**
   * Whether a wrong answer (a nil, too few keys: not an error) from `node` is excused. A node
   * back empty answers wrong until rbuddy holds it (it then answers errors): that must happen
   * within `BACK_EMPTY_HOLD_MS` of its return while rbuddy runs, whatever else is broken.
   */
  wrongAnswerExcused(node: string): boolean {
    const now = this.history.now();
    if ((this.impaired.get(node) ?? -1) > now) return true;
    const since = this.backEmpty.get(node);
    if (since === undefined) return false;
    if (this.isImpaired('rbuddy')) return true;
    const rbuddyBack = this.impaired.get('rbuddy') ?? -1;
    return now <= Math.max(since, rbuddyBack) + BACK_EMPTY_HOLD_MS;
  }

  /** The last moment `node` (a process, `master-link`, `replica-link`) was excused (ms of the
   * run): now while it is, else the end of its last excuse (its return and the settling time). */
  lastExcused(node: string): number {
    const now = this.history.now();
    if (this.isImpaired(node)) return now;
    return Math.min(this.impaired.get(node) ?? -Infinity, now);
  }

  /**
   * Since when an active `node` behind the master must be catching up (ms of the run): the last
   * moment anything that can hold its stream back was excused — the node, the master, rbuddy
   * (the stream crosses it), either link (a blackhole, a stall, a bandwidth limit, a reset) —,
   * rbuddy was not `healthy` (a failover serves the active stale by design) or named another
   * active. The freshness checks (chaos/freshness.ts, chaos/offset-lag.ts) judge only what the
   * master had from then on.
   */
  staleExcusedSince(node: string): number {
    return Math.max(
      ...[node, 'master', 'rbuddy', 'master-link', 'replica-link'].map((n) => this.lastExcused(n)),
      this.lastNotHealthy,
      this.activeChangedAt,
    );
  }

  anyImpaired(): boolean {
    return [...this.impaired.keys()].some((node) => this.isImpaired(node));
  }

  /** A read on `node` that failed: excused when we broke that node (or rbuddy) ourselves. */
  failedRead(reader: 'active' | 'sentinel', node: string, error: string, excused: boolean): void {
    const counts = reader === 'active' ? this.reads : this.sentinelReads;
    if (excused) counts.excused += 1;
    else counts.failed += 1;
    this.history.record('read', node, { ok: false, data: { reader, error, excused } });
  }
}
