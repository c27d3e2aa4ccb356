// Who wrote the group's state in etcd (docs/ha.md, "What lives in etcd"): every save stamps the
// state with its writer's id and announce and the fencing token it was elected with (the leader
// key's create revision), in the same fenced transaction that writes it. An operator reading the
// key sees which instance wrote it under which leadership, and etcd's revision history of the key
// shows the writer of every version, to be checked against who held the leader key at that
// revision. The stamp is the store's, not the engine's: it is removed on load, and a state written
// before the stamp existed (or a file store's) simply has none.
import { isObject } from '../is-object.js';
import type { PersistedState } from '../standby/persisted-state.js';

export interface WrittenBy {
  /** The writer's instance id. */
  id: string;
  /** Its --announce. */
  announce: string;
  /** The leader key's create revision it was elected with (its fencing token). */
  fence: number;
}

/** The stored text of `state`, stamped with its writer. */
export function stampedState(state: PersistedState, writer: WrittenBy): string {
  return JSON.stringify({ ...state, writtenBy: writer });
}

/** The stamp a stored value carries, or null when it has none (or an unreadable one). */
export function writtenByOf(value: unknown): WrittenBy | null {
  if (!isObject(value) || !isObject(value.writtenBy)) return null;
  const { id, announce, fence } = value.writtenBy;
  if (typeof id !== 'string' || typeof announce !== 'string') return null;
  if (typeof fence !== 'number' || !Number.isSafeInteger(fence) || fence <= 0) return null;
  return { id, announce, fence };
}

/**
 * The stored value without its stamp, as the engine knows a state. A stamp that does not read
 * well is removed all the same: it says nothing the engine decides on.
 */
export function unstamped(value: unknown): unknown {
  if (!isObject(value) || !('writtenBy' in value)) return value;
  const rest = { ...value };
  delete rest.writtenBy;
  return rest;
}
