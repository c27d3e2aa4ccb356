// An event read back from disk (a webhook outbox entry) is checked field by field before it is
// used: a file a crash tore, a disk corrupted or a person put there must be recognised as not an
// event of ours, never delivered under a type it does not have.
import { isObject } from '../is-object.js';
import type { EventData, EventType, RbuddyEvent } from './events.js';

/** Every event type, for checking a type read from disk (the compiler keeps the list complete). */
const EVENT_TYPES = {
  'master.down': true,
  'master.up': true,
  'active.promoted': true,
  'standby.attached': true,
  'standby.synced': true,
  'failover.held': true,
  'failover.completed': true,
  'standby.ready': true,
  'failover.failed': true,
} as const satisfies Record<EventType, true>;

export type StoredEvent = { ok: true; event: RbuddyEvent } | { ok: false; why: string };

function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && Object.hasOwn(EVENT_TYPES, value);
}

/** The event a parsed JSON value is, or why it is not one. */
export function storedEvent(value: unknown): StoredEvent {
  if (!isObject(value)) return { ok: false, why: 'not a JSON object' };
  const { id, type, timestamp, group, epoch, data } = value;
  if (typeof id !== 'string' || id === '') return { ok: false, why: 'no id' };
  if (!isEventType(type)) return { ok: false, why: `unknown type ${JSON.stringify(type)}` };
  if (typeof timestamp !== 'string') return { ok: false, why: 'no timestamp' };
  if (typeof group !== 'string') return { ok: false, why: 'no group' };
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
    return { ok: false, why: 'epoch is not a non-negative integer' };
  }
  const checked = eventData(data);
  if (typeof checked === 'string') return { ok: false, why: checked };
  return { ok: true, event: { id, type, timestamp, group, epoch, data: checked } };
}

function eventData(data: unknown): EventData | string {
  if (!isObject(data)) return 'data is not an object';
  const { active, standby, master, reason } = data;
  if (typeof active !== 'string' || typeof standby !== 'string' || typeof master !== 'string') {
    return 'data lacks active, standby or master';
  }
  if (reason !== undefined && typeof reason !== 'string') return 'data.reason is not a string';
  return {
    ...data,
    active,
    standby,
    master,
    ...(reason === undefined ? {} : { reason }),
  };
}
