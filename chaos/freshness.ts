// The freshness of the active's reads (reviewer R11c, C1: an active that stopped applying its
// stream for 25 s, 7,500 writes behind, passed every check, since the reads looked only at a
// constant probe key and the key count). The steady writer's values carry their sequence number
// (bench/steady-writer.ts: write S sets `steady:<S mod 10,000>` to S, padded) and it says what the
// master acknowledged (`--acks`). The reader that follows `GET /active` reads a few `steady:` keys
// on the active and requires:
// - within one tenure of a node as the active, no key's sequence goes back (a tenure ends when
//   `/active` names another node, the node restarted, or rbuddy's epoch changed);
// - the write the master acknowledged `FRESH_BOUND_MS` before the read is there, unless something
//   that can hold the active's stream back was excused in the last `FRESH_BOUND_MS`
//   (`Checker.staleExcusedSince`; after an excuse the active has that long to catch up) or the
//   master was excused since it acknowledged the write (a master restarted may have lost it).
import type { Checker } from './checker.js';

/** The writer's key space (bench/steady-writer.ts, KEYS). */
export const WRITER_KEYS = 10_000;
/** How far behind the master's acknowledged writes the active may read. */
export const FRESH_BOUND_MS = 5_000;
/** The keys seen in a tenure read again to see that none went back. */
const REREAD = 4;
/** How long acknowledgements are kept (ms): well past the bound. */
const KEEP_ACKS_MS = 60_000;

export const keyOf = (seq: number): string => `steady:${seq % WRITER_KEYS}`;

/** The sequence number a writer's value carries (digits, padded with `v`), if any. */
export function seqOf(value: string | null | undefined): number | undefined {
  const digits = /^(\d+)v*$/.exec(value ?? '')?.[1];
  return digits === undefined ? undefined : Number(digits);
}

/** The writer's acknowledgements: the highest sequence the master had acknowledged, and when. */
export class WriterAcks {
  private readonly samples: Array<{ t: number; seq: number }> = [];

  record(t: number, seq: number): void {
    const last = this.samples.at(-1);
    if (last !== undefined && seq <= last.seq) return;
    this.samples.push({ t, seq });
    while (this.samples.length > 0 && this.samples[0].t < t - KEEP_ACKS_MS) this.samples.shift();
  }

  /** The highest sequence acknowledged at or before `until`, if that was at or after `from`. */
  within(from: number, until: number): { t: number; seq: number } | undefined {
    for (let i = this.samples.length - 1; i >= 0; i -= 1) {
      const sample = this.samples[i];
      if (sample.t > until) continue;
      return sample.t >= from ? sample : undefined;
    }
    return undefined;
  }

  latest(): number | undefined {
    return this.samples.at(-1)?.seq;
  }

  /**
   * How many keys a copy may lack for lagging: the writes of the last LAG_BOUND_MS, or of the
   * whole window kept while its lag is excused (`excusedSince`, Checker.staleExcusedSince: a
   * link blackholed, the node stopped…), which may have held its stream back that long. Only
   * against the reference a tenure starts from: what the node itself held stays required.
   */
  lagRoom(now: number, excusedSince: number, boundMs: number): number {
    const excused = excusedSince >= now - boundMs;
    return this.writesWithin(excused ? KEEP_ACKS_MS : boundMs, now);
  }

  /**
   * Writes the master acknowledged in the `ms` before `now`: each creates at most one key, so a
   * copy up to `ms` behind the master may hold that many fewer (the writer refilling a master
   * that lost its keys: 30 minutes of seed 20261214 reported a new active 2 s behind, 11 % short
   * of the master while each write added a key, against a 10 % room).
   */
  writesWithin(ms: number, now: number): number {
    if (ms <= 0) return 0;
    const latest = this.within(-Infinity, now);
    if (latest === undefined) return 0;
    const before = this.within(-Infinity, now - ms) ?? this.samples[0];
    return latest.seq - before.seq;
  }
}

/** The sequences seen on the node `/active` names, for as long as it is named (its tenure). */
export class SeqTenure {
  node: string | undefined;
  from = -Infinity;
  private epoch: number | null = null;
  /** Key → the highest sequence seen there this tenure, the most recent last. */
  private readonly seen = new Map<string, number>();

  /** Before each read: a new tenure when another node is named, the node restarted since the
   * tenure began (`restartedAt`, ms of the run), or the epoch changed. */
  named(node: string, now: number, restartedAt: number | undefined, epoch: number | null): void {
    const restarted = node === this.node && restartedAt !== undefined && restartedAt > this.from;
    const newEpoch = epoch !== null && this.epoch !== null && epoch !== this.epoch;
    if (epoch !== null) this.epoch = epoch;
    if (node === this.node && !restarted && !newEpoch) return;
    this.node = node;
    this.from = restarted ? restartedAt : now;
    this.seen.clear();
  }

  /** The keys read again, with the least sequence each must show. */
  reread(): Array<{ key: string; min: number }> {
    return [...this.seen].slice(-REREAD).map(([key, min]) => ({ key, min }));
  }

  /** A sequence read at `key`: the highest seen before when it went back, else undefined. */
  saw(key: string, seq: number | undefined): number | undefined {
    const before = this.seen.get(key);
    if (seq === undefined || (before !== undefined && seq < before)) return before;
    this.seen.delete(key);
    this.seen.set(key, seq);
    return undefined;
  }
}

export interface FreshPlan {
  keys: string[];
  reread: Array<{ key: string; min: number }>;
  /** The write the master acknowledged (at `t`) at least FRESH_BOUND_MS before the read, by `by`
   * (ms of the run), when nothing excused the active's lag since `by` nor the master since `t`:
   * it must be on the active. */
  bound: { key: string; seq: number; t: number; by: number } | undefined;
}

/**
 * Plans a read of the active (`now`, ms of the run): the keys seen this tenure, the key of the
 * bound's write, and the key of the latest write acknowledged (to learn how far it has come).
 */
export function planFresh(
  tenure: SeqTenure,
  acks: WriterAcks,
  now: number,
  excusedSince: number,
  masterSince: number,
): FreshPlan {
  const reread = tenure.reread();
  const by = now - FRESH_BOUND_MS;
  const ack = by >= Math.max(excusedSince, tenure.from) ? acks.within(masterSince, by) : undefined;
  const bound = ack === undefined ? undefined : { key: keyOf(ack.seq), seq: ack.seq, t: ack.t, by };
  const latest = acks.latest();
  const keys = [
    ...new Set([
      ...reread.map((r) => r.key),
      ...(bound === undefined ? [] : [bound.key]),
      ...(latest === undefined ? [] : [keyOf(latest)]),
    ]),
  ];
  return { keys, reread, bound };
}

export interface FreshVerdict {
  /** A key whose sequence went back this tenure. */
  back?: { key: string; was: number; now: number | null };
  /** The bound's write missing: what the active showed there instead. */
  stale?: { key: string; acked: number; ackedAt: number; now: number | null };
}

/** Judges what the read showed (`values`, in the plan's key order) and learns from it. */
export function judgeFresh(
  tenure: SeqTenure,
  plan: FreshPlan,
  values: Array<string | null>,
): FreshVerdict {
  const read = new Map(plan.keys.map((key, i) => [key, seqOf(values[i])]));
  const verdict: FreshVerdict = {};
  for (const { key, min } of plan.reread) {
    const seq = read.get(key);
    if (seq === undefined || seq < min) verdict.back ??= { key, was: min, now: seq ?? null };
  }
  if (plan.bound !== undefined) {
    const seq = read.get(plan.bound.key);
    if (seq === undefined || seq < plan.bound.seq) {
      verdict.stale = {
        key: plan.bound.key,
        acked: plan.bound.seq,
        ackedAt: plan.bound.t,
        now: seq ?? null,
      };
    }
  }
  for (const [key, seq] of read) tenure.saw(key, seq);
  return verdict;
}

export const FRESH_BACK = 'I1 the active never goes back (within a tenure)';
export const FRESH_BOUND = `I1 the active holds what the master acknowledged ${FRESH_BOUND_MS / 1000} s before`;

/**
 * Reports a verdict: one violation per incident (until a read of the node judged clean), unless
 * the node's wrong answers (`excused`) or, for the bound, the active's lag were excused since
 * the plan's `by` (`excusedSince`) or the master since the acknowledgement (`masterSince`), both
 * taken again after the read.
 */
export class FreshReporter {
  private failing = new Set<string>();

  constructor(private readonly checker: Checker) {
    // Listed in the report even when never judged (a run of storms may leave no calm 5 s).
    for (const name of [FRESH_BACK, FRESH_BOUND]) checker.checks.set(name, 0);
  }

  report(
    node: string,
    plan: FreshPlan,
    verdict: FreshVerdict,
    excused: boolean,
    excusedSince: number,
    masterSince: number,
  ): void {
    const { checker } = this;
    if (plan.reread.length > 0 && !excused) {
      const held = verdict.back === undefined;
      this.once(`${node} back`, held, () =>
        checker.check(FRESH_BACK, false, `a key's sequence went back on ${node}`, {
          ...verdict.back,
        }),
      );
      if (held) checker.check(FRESH_BACK, true);
    } else checker.skip(FRESH_BACK);
    const bound = plan.bound;
    if (bound !== undefined && !excused && excusedSince <= bound.by && masterSince <= bound.t) {
      const held = verdict.stale === undefined;
      const stale = verdict.stale;
      this.once(`${node} stale`, held, () =>
        checker.check(
          FRESH_BOUND,
          false,
          `${node} read seq ${stale?.now ?? 'nil'} at ${stale?.key} where the master acknowledged ${stale?.acked} ${((checker.history.now() - (stale?.ackedAt ?? 0)) / 1000).toFixed(1)} s before`,
          { ...stale },
        ),
      );
      if (held) checker.check(FRESH_BOUND, true);
    } else checker.skip(FRESH_BOUND);
  }

  private once(incident: string, held: boolean, violation: () => void): void {
    if (held) {
      this.failing.delete(incident);
      return;
    }
    if (this.failing.has(incident)) return;
    this.failing.add(incident);
    violation();
  }
}
