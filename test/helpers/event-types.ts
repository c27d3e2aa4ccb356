// Every event type rbuddy sends, for tests that must cover them all; the compiler checks that the
// list misses none.
import type { EventType } from '../../src/notify/events.js';

export const EVENT_TYPES = [
  'master.down',
  'master.up',
  'active.promoted',
  'standby.attached',
  'standby.synced',
  'failover.held',
  'failover.completed',
  'standby.ready',
  'failover.failed',
] as const satisfies readonly EventType[];

/** Fails to compile while an EventType is missing from EVENT_TYPES. */
const complete: Record<Exclude<EventType, (typeof EVENT_TYPES)[number]>, never> = {};
void complete;
