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

export class Checker {
  readonly violations: Violation[] = [];
  /** Invariant name → how many times it was checked. */
  readonly checks = new Map<string, number>();
  readonly faults = new Map<string, number>();
  failovers = 0;
  reads = { ok: 0, failed: 0, excused: 0 };
  sentinelReads = { ok: 0, failed: 0, excused: 0, restarted: 0 };
  peakRssMb = 0;
  /** Full syncs in the replicas' logs, by verdict (harness/active-full-syncs.ts). */
  readonly fullSyncs = new Map<string, number>();
  /** Node → until when (ms of the run) its failures are excused; Infinity: until healed. */
  private readonly impaired = new Map<string, number>();
  /** Nodes that came back empty: impaired until rbuddy is next healthy. */
  private readonly untilHealthy = new Set<string>();

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
    // A node still owed its "until healthy" (it came back empty) keeps it through a new fault.
    this.impaired.set(node, Infinity);
  }

  /** Back: excused for `settleMs` more, or (untilHealthy) until rbuddy is next healthy. */
  healed(node: string, untilHealthy = false, settleMs = 2_000): void {
    if (untilHealthy) this.untilHealthy.add(node);
    else if (!this.untilHealthy.has(node)) this.impaired.set(node, this.history.now() + settleMs);
  }

  /** rbuddy says healthy: nodes that came back empty have been replaced or guarded again. */
  sawHealthy(): void {
    for (const node of this.untilHealthy) this.impaired.set(node, this.history.now() + 2_000);
    this.untilHealthy.clear();
  }

  /** A node that came back empty serves the data again: its failures count from now on. */
  recovered(node: string): void {
    if (this.untilHealthy.delete(node)) this.impaired.set(node, this.history.now());
  }

  isImpaired(node: string): boolean {
    return (this.impaired.get(node) ?? -1) >= this.history.now();
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
