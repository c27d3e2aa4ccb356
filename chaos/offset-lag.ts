// The active's lag behind the master, in time (reviewer R11c, C1): the observer samples the
// master's replication offset every tick (`master_repl_offset`), and the active's
// (`slave_repl_offset`: in Redis 7.0 a replica's offset of what it has applied from its master
// link; `slave_read_repl_offset` is what it has read, applied or not, and a replica's own
// `master_repl_offset` follows what it applied too). The lag is how long the master has been
// past the active's offset: since the first sample of the master beyond it. rbuddy relays the
// master's stream as it is (the active's offsets and replication ID are the master's), so the
// two are comparable while both name one replication ID.
import type { Checker } from './checker.js';

/** How far behind the master the active may be while rbuddy says healthy (ms). */
export const LAG_BOUND_MS = 5_000;
/** The master's samples kept (ms): well past the bound. */
const KEEP_MS = 120_000;

export interface ReplOffsets {
  replid: string;
  offset: number;
}

/** What `INFO replication` says of a node's replication ID and applied offset. */
export function replOffsets(info: string): ReplOffsets | undefined {
  const replid = /^master_replid:(\w+)/m.exec(info)?.[1];
  const applied =
    /^slave_repl_offset:(\d+)/m.exec(info)?.[1] ?? /^master_repl_offset:(\d+)/m.exec(info)?.[1];
  if (replid === undefined || applied === undefined) return undefined;
  return { replid, offset: Number(applied) };
}

export class OffsetLag {
  private replid: string | undefined;
  /** When the master was first seen at or past each offset: offsets strictly increasing. */
  private readonly samples: Array<{ t: number; offset: number }> = [];

  /** The master's offsets at `t` (ms of the run). A new replication ID, or an offset that went
   * back (the master restarted), starts the record afresh. */
  master(t: number, offsets: ReplOffsets): void {
    const last = this.samples.at(-1)?.offset ?? -1;
    if (offsets.replid !== this.replid || offsets.offset < last) {
      this.replid = offsets.replid;
      this.samples.length = 0;
    }
    if (offsets.offset > (this.samples.at(-1)?.offset ?? -1)) {
      this.samples.push({ t, offset: offsets.offset });
    }
    while (this.samples.length > 1 && this.samples[0].t < t - KEEP_MS) this.samples.shift();
  }

  /**
   * Since when (ms of the run) the master has been past the active's offset: the first sample
   * beyond it (the earliest kept, if all are). `null`: not behind; `undefined`: not comparable
   * (another replication ID, or no sample of the master yet).
   */
  behindSince(active: ReplOffsets): number | null | undefined {
    if (active.replid !== this.replid || this.samples.length === 0) return undefined;
    let lo = 0;
    let hi = this.samples.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.samples[mid].offset > active.offset) hi = mid;
      else lo = mid + 1;
    }
    return lo === this.samples.length ? null : this.samples[lo].t;
  }
}

const RECORDED_STEPS = [1, 2, 5, 10, 20, 30, 60, 120, 300].map((s) => s * 1000);

export const LAG_INVARIANT = `the active lags the master by at most ${LAG_BOUND_MS / 1000} s while healthy`;

/**
 * Judges one sample of the active's lag at `now`: the lag counts from the master's first offset
 * past the active's, or from the last moment something excused it (`excusedSince`, the
 * checker's `staleExcusedSince`), whichever is later. One violation per incident: it ends when
 * the active is no longer behind, or another node is the active.
 */
export class LagJudge {
  private reported: string | undefined;
  /** The largest lag of the active since it was last not behind (ms). */
  private peakMs = 0;

  constructor(private readonly checker: Checker) {
    checker.checks.set(LAG_INVARIANT, 0);
  }

  sample(
    now: number,
    active: string,
    lag: OffsetLag,
    offsets: ReplOffsets,
    excusedSince: number,
  ): void {
    const { checker } = this;
    const since = lag.behindSince(offsets);
    if (since === undefined) return;
    if (since === null) {
      if (this.peakMs > 0) {
        checker.history.record('lag', active, { data: { lagMs: 0, peakMs: this.peakMs } });
      }
      this.peakMs = 0;
      this.reported = undefined;
      checker.check(LAG_INVARIANT, true);
      return;
    }
    const raw = now - since;
    const judged = now - Math.max(since, excusedSince);
    checker.maxLagMs = Math.max(checker.maxLagMs, raw);
    // Sampled every tick, recorded in the history as it passes 1, 2, 5, 10, 20… s (every tick
    // would fill the timelines of the report), and once it is over, with its peak.
    if (raw >= 1000 && RECORDED_STEPS.some((step) => this.peakMs < step && raw >= step)) {
      checker.history.record('lag', active, {
        data: { lagMs: raw, judgedMs: Math.max(0, judged), offset: offsets.offset },
      });
    }
    this.peakMs = Math.max(this.peakMs, raw);
    if (judged <= 0) return;
    checker.maxJudgedLagMs = Math.max(checker.maxJudgedLagMs, judged);
    if (this.reported !== undefined && this.reported !== active) this.reported = undefined;
    const held = judged <= LAG_BOUND_MS;
    if (held) {
      this.reported = undefined;
      checker.check(LAG_INVARIANT, true);
      return;
    }
    if (this.reported === active) return;
    this.reported = active;
    checker.check(
      LAG_INVARIANT,
      false,
      `${active} behind the master for ${(raw / 1000).toFixed(1)} s (${(judged / 1000).toFixed(1)} s with nothing to excuse it) while rbuddy said healthy`,
      { offset: offsets.offset, behindSince: since, excusedSince },
    );
  }
}
