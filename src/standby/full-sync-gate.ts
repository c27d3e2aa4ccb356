// The full-sync gate (I1, docs/design.md, "The gate"): whether a snapshot the master starts for
// a session may reach its node. Decided on the master's reply (+FULLRESYNC, or a snapshot after
// an inline SYNC), not on the request: a PSYNC sent while a node could still sync may be
// answered after the roles changed.
import type { PersistedState } from './persisted-state.js';

export type GateVerdict =
  /** The snapshot goes through (first start, the standby released for its sync). */
  | { relay: true }
  /** Closed; `demanded`: the active itself was refused one (a failover starts at once). */
  | { relay: false; why: string; demanded: boolean };

export function gateFullSync(
  persisted: PersistedState | undefined,
  nodeId: string,
  held: boolean,
): GateVerdict {
  if (persisted === undefined) {
    // State unknown (not read yet, or corrupt): a full resync may destroy a dataset.
    return { relay: false, why: 'refusing FULLRESYNC while the state is unknown', demanded: false };
  }
  if (nodeId === persisted.active && persisted.activeHoldsData) {
    return {
      relay: false,
      why: 'the master demanded a full resync of the active replica: closing its session instead',
      demanded: true,
    };
  }
  if (held) {
    // The idle standby, the outgoing active after a switch, an active held back empty: a sync
    // of theirs that began before they were held (the outgoing active's PSYNC in flight across
    // the switch) would flush what may be the last copy of the data.
    return {
      relay: false,
      why: 'the master answered FULLRESYNC for a node whose sync is held: closing its session instead',
      demanded: false,
    };
  }
  return { relay: true };
}
