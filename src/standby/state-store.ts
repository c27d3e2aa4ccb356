// Where the failover engine keeps its PersistedState: the contract the engine relies on for
// I2 and I3 (docs/design.md, "Invariants" and "Persist, then announce"). state-file.ts keeps it
// on disk in --state-dir; a store shared by several rbuddy processes must keep the same promises.
import type { PersistedState } from './persisted-state.js';

/**
 * What a load found. `missing` and `corrupt` are never confused: only a store where nothing was
 * ever saved (or where it was lost without a trace) is missing, and the engine then asks the
 * nodes before it writes anything (docs/design.md, "Restart and reconciliation"). Anything there
 * that is not a valid PersistedState (unreadable, not JSON, failing invalidReason) is corrupt,
 * with why, and the engine refuses to act on it.
 */
export type LoadResult =
  | { kind: 'missing'; file: string }
  | { kind: 'ok'; file: string; state: PersistedState }
  /**
   * `untrusted`: it reads well, but a shared store found it was not written by the one that may
   * write it (in a group, by its leader: docs/ha.md); acted on no more than garbage.
   */
  | { kind: 'corrupt'; file: string; why: string; untrusted?: true };

export interface StateStore {
  /** Where the state lives, as operators are told it (a path, or the key of a shared store). */
  readonly file: string;

  /** Reads the last state saved; an `ok` state has passed invalidReason. */
  load(): Promise<LoadResult>;

  /**
   * Resolves only once `state` is durable: a load after a crash from then on returns it (or a
   * later one). Atomic: a crash at any moment leaves the previous state or this one, never a mix.
   * Saves land in call order: the last call's state is the one that stays. Rejects when the
   * state was not saved; what was there before still stands.
   */
  save(state: PersistedState): Promise<void>;

  /**
   * The highest epoch this store has seen the state hold in this process, when it can outlive
   * the state (a shared store whose key may be wiped under it): a state rebuilt takes the next.
   */
  epochFloor?(): number | undefined;
}

/** Why a loaded state cannot be acted on (corrupt, or naming other nodes than `nodes`), if so. */
export function unusableReason(loaded: LoadResult, nodes: readonly string[]): string | undefined {
  if (loaded.kind === 'corrupt' && loaded.untrusted === true) {
    return `the state in ${loaded.file} was not written by its leader: ${loaded.why}; refusing to act on it: delete it (the nodes' roles are then read) or put back a state a leader wrote`;
  }
  if (loaded.kind === 'corrupt') {
    return `state file ${loaded.file} is corrupt (${loaded.why}): refusing to act; fix or remove it and restart`;
  }
  if (loaded.kind === 'missing') return undefined;
  const { active, standby } = loaded.state;
  if (nodes.includes(active) && nodes.includes(standby)) return undefined;
  return `state file ${loaded.file} names ${active} and ${standby}, but the configuration names ${nodes.join(' and ')}: refusing to act`;
}
