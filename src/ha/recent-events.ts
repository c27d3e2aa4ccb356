// The group's recent events in etcd (`<prefix>/<group>/events/<seq>`): the leader records each
// event it emits, every instance reads them back and tells them to the subscribers of its own
// RESP port (docs/ha.md, "Pub/sub and webhooks"), so that a Sentinel client subscribed on a
// follower hears `+switch-master` and the `--channel` JSON as one subscribed on the leader does.
// Only the last RECENT_EVENTS stay in etcd: a follower reads them every poll, so it needs only
// those written since its previous one. Each instance tells an event once, by its id, whichever
// way it arrives (RelayCursor here, then the pub/sub hub).
import { isObject } from '../is-object.js';
import type { RbuddyEvent } from '../notify/events.js';
import { SeenIds } from '../notify/seen-ids.js';
import { storedEvent } from '../notify/stored-event.js';

/** One recorded event, with what a follower cannot know at the time it reads it. */
export interface RecentEvent {
  event: RbuddyEvent;
  /**
   * The switch a `failover.completed` announces was unplanned (Sentinel's `+sdown`, `+odown`),
   * as the leader's persisted record said when it emitted it; false for other events.
   */
  unplanned: boolean;
}

/** How many events stay in etcd (a failover emits about six). */
export const RECENT_EVENTS = 32;

export function recentEventText(record: RecentEvent): string {
  return JSON.stringify({ event: record.event, unplanned: record.unplanned });
}

/** The record in `text`, or why it is not one (garbage is skipped, never told). */
export function parseRecentEvent(text: string): RecentEvent | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (!isObject(value)) return 'not a JSON object';
  if (typeof value.unplanned !== 'boolean') return 'unplanned is not a boolean';
  const checked = storedEvent(value.event);
  if (!checked.ok) return `not an event: ${checked.why}`;
  return { event: checked.event, unplanned: value.unplanned };
}

/**
 * The records of one write: at most `max` (only the last `max` stay anyway), none whose event is
 * in etcd already (a write retried after etcd did not confirm it may have landed), each id once.
 */
export function recordsToWrite(
  pending: readonly RecentEvent[],
  present: ReadonlySet<string>,
  max: number,
): RecentEvent[] {
  const ids = new Set(present);
  const fresh: RecentEvent[] = [];
  for (const record of pending) {
    if (ids.has(record.event.id)) continue;
    ids.add(record.event.id);
    fresh.push(record);
  }
  return fresh.slice(-max);
}

/**
 * The first sequence number kept once `last` is written: the entries before it are removed in
 * the same transaction, so that etcd holds at most `max` of them. 0: nothing to remove.
 */
export function firstKept(last: number, max: number): number {
  return Math.max(0, last - max + 1);
}

/**
 * Which of the records read from etcd are new to this instance. The first read only remembers
 * what is there: those events happened before this instance could tell anyone (its port opens
 * after it), and an old `+switch-master` told late would send clients to ask discovery for
 * nothing. Afterwards each read hands over, in order, the records whose id was not seen before;
 * ids are remembered well past the records etcd keeps, so one still listed is never handed twice.
 */
export class RelayCursor {
  private readonly seen: SeenIds;
  private primed = false;

  constructor(capacity = RECENT_EVENTS * 8) {
    this.seen = new SeenIds(capacity);
  }

  next(records: readonly RecentEvent[]): RecentEvent[] {
    const fresh = records.filter((record) => this.seen.add(record.event.id));
    if (this.primed) return fresh;
    this.primed = true;
    return [];
  }
}
