// An instance's registration as stored in etcd (the leader key's value, `members/<id>`): read
// back with a check, since anyone with access to the prefix can write there.
import { isObject } from '../is-object.js';
import type { InstanceInfo } from './coordination.js';

/** The InstanceInfo a stored JSON text holds, or null when it holds none. */
export function parseInstance(text: string): InstanceInfo | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return instanceFrom(value);
}

/** The InstanceInfo a parsed value is, or null (other fields beside it are left out). */
export function instanceFrom(value: unknown): InstanceInfo | null {
  if (!isObject(value)) return null;
  const { id, announce, http } = value;
  if (typeof id !== 'string' || id === '') return null;
  if (typeof announce !== 'string' || typeof http !== 'string') return null;
  return { id, announce, http };
}
