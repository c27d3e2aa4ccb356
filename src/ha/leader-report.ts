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
