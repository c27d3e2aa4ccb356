// The leader's live report in etcd (`<prefix>/<group>/leader-status`, on the leader's lease): what
// followers show as their state (follower-view.ts). It carries the fence of the leader that wrote
// it, so that a report left by a previous leader never stands for the current one.
import { ENGINE_STATES } from '../standby/states.js';
import type { LeaderReport } from './coordination.js';

export function reportText(report: LeaderReport, fence: number): string {
  return JSON.stringify({ ...report, fence });
}

/** The report in `text` if it is well formed and written under `fence`, else null. */
export function parseReport(text: string, fence: number): LeaderReport | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { state, reason, masterUp, epoch } = value as Record<string, unknown>;
  if (!('fence' in value) || value.fence !== fence) return null;
  const known = ENGINE_STATES.find((name) => name === state);
  if (known === undefined || typeof masterUp !== 'boolean') return null;
  if (reason !== null && typeof reason !== 'string') return null;
  if (epoch !== null && !Number.isSafeInteger(epoch)) return null;
  return { state: known, reason, masterUp, epoch: epoch as number | null };
}

/**
 * The reports as one instance holds them: as the leader, the one to write (written when it
 * changed, at most once a round, on its lease); as a follower, the current leader's as last read.
 */
export class LeaderReports {
  private pending: string | undefined;
  private written: string | undefined;
  /** A follower: the current leader's report as last read; null when none. */
  read: LeaderReport | null = null;

  /** A new term: nothing read or written before stands for it. */
  reset(): void {
    this.read = null;
    this.pending = undefined;
    this.written = undefined;
  }

  publish(report: LeaderReport, fence: number): void {
    this.pending = reportText(report, fence);
  }

  /** What the leader-status key held beside the leader key of `fence` (undefined: nothing). */
  readFrom(text: string | undefined, fence: number): void {
    this.read = text === undefined ? null : parseReport(text, fence);
  }

  /** The text to write now: the one published, unless it is written already. */
  due(): string | undefined {
    return this.pending === this.written ? undefined : this.pending;
  }

  wrote(text: string): void {
    this.written = text;
  }
}
