// The leader's live report in etcd (`<prefix>/<group>/leader-status`, on the leader's lease): what
// followers show as their state (follower-view.ts). It carries the fence of the leader that wrote
// it, so that a report left by a previous leader never stands for the current one, and a beat: the
// leader writes it again at least every `beatMs`, so that a follower can tell a report its leader
// keeps writing from one that etcd merely holds (restored from a backup with the leader key of its
// time, on a lease etcd brings back for a full TTL while nobody acts under it).
import { ENGINE_STATES } from '../standby/states.js';
import type { LeaderReport } from './coordination.js';

export function reportText(report: LeaderReport, fence: number, beat = 0): string {
  return JSON.stringify({ ...report, fence, beat });
}

/** The report in `text` if it is well formed and written under `fence`, else null. */
export function parseReport(text: string, fence: number): LeaderReport | null {
  return parseBeating(text, fence)?.report ?? null;
}

/** The report in `text` and its beat (absent: an older version's, -1), as parseReport. */
function parseBeating(text: string, fence: number): { report: LeaderReport; beat: number } | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { state, reason, masterUp, epoch, beat } = value as Record<string, unknown>;
  if (!('fence' in value) || value.fence !== fence) return null;
  const known = ENGINE_STATES.find((name) => name === state);
  if (known === undefined || typeof masterUp !== 'boolean') return null;
  if (reason !== null && typeof reason !== 'string') return null;
  if (epoch !== null && !Number.isSafeInteger(epoch)) return null;
  if (beat !== undefined && !Number.isSafeInteger(beat)) return null;
  const report = { state: known, reason, masterUp, epoch: epoch as number | null };
  return { report, beat: (beat as number | undefined) ?? -1 };
}

/**
 * The reports as one instance holds them: as the leader, the one to write (written when it
 * changed, at most once a round, and again every `beatMs` with the next beat, on its lease); as a
 * follower, the current leader's as last read, and whether it was seen written again since.
 */
export class LeaderReports {
  private pending: { report: LeaderReport; fence: number; key: string } | undefined;
  /** What was last written, without its beat, and when. */
  private written: { key: string; at: number } | undefined;
  private beat = 0;
  private lastRead: LeaderReport | null = null;
  /**
   * A follower: the fence and beat last read, and whether the beat last moved forward under that
   * fence. A beat that goes back is a report from the past (etcd restored from a backup): not
   * live until the leader is seen writing again.
   */
  private last: { fence: number; beat: number; live: boolean } | undefined;

  constructor(private readonly beatMs: number) {}

  /** A follower: the current leader's report as last read; null when none. */
  get read(): LeaderReport | null {
    return this.lastRead;
  }

  /**
   * Nobody leads as far as this instance knows (a round failed, the leader key is gone): no report
   * stands. The beat's history is kept: a fence seen again goes on from it.
   */
  forget(): void {
    this.lastRead = null;
  }

  /** A new term: nothing read or written before stands for it. */
  reset(): void {
    this.lastRead = null;
    this.pending = undefined;
    this.written = undefined;
  }

  publish(report: LeaderReport, fence: number): void {
    this.pending = { report, fence, key: reportText(report, fence) };
  }

  /** What the leader-status key held beside the leader key of `fence` (undefined: nothing). */
  readFrom(text: string | undefined, fence: number): void {
    const parsed = text === undefined ? null : parseBeating(text, fence);
    this.lastRead = parsed?.report ?? null;
    if (parsed === null) return;
    const last = this.last;
    const live =
      last?.fence === fence && parsed.beat !== last.beat ? parsed.beat > last.beat : last?.live;
    this.last = { fence, beat: parsed.beat, live: last?.fence === fence && live === true };
  }

  /**
   * A follower: the report read, if its leader was seen writing it again under the same fence
   * (its beat moved forward, and has not gone back since): that leader is alive now, its report
   * is not one etcd merely holds.
   */
  renewed(): LeaderReport | null {
    return this.last?.live === true ? this.lastRead : null;
  }

  /**
   * The write due now, if any: the report published, when it changed or its last write is a beat
   * old. Passed back to wrote() once written.
   */
  due(now: number): { text: string; key: string; beat: number } | undefined {
    const pending = this.pending;
    if (pending === undefined) return undefined;
    if (pending.key === this.written?.key && now - this.written.at < this.beatMs) return undefined;
    const beat = this.beat + 1;
    return { text: reportText(pending.report, pending.fence, beat), key: pending.key, beat };
  }

  wrote(write: { key: string; beat: number }, now: number): void {
    this.beat = write.beat;
    this.written = { key: write.key, at: now };
  }
}
