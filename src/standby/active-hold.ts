// An active that came back empty is held at once, whether or not the state can be written right
// now (docs/design.md, "Roles and states"): a replica of the announce address with
// replica-serve-stale-data no whose sync the proxy answers -NOMASTERLINK, so that its readers get
// -MASTERDOWN, never a nil, and the master never forks for a full sync the gate would refuse.
// Until the failover record that holds it is on disk (its own settings and the `active-held`
// mark), the process keeps both here: the proxy asks whose sync to hold (FailoverEngine.holdsSync),
// and begin-failover writes the settings read before the hold, not the held values the node
// reports now. Lost with the process: the next one finds the node held and empty under a run_id
// not recorded (`restartedEmpty`, node-view.ts) and holds it again; its own
// replica-serve-stale-data is then taken to be Redis's default (originalSettings, actions.ts).
import { ACTIVE_HELD, type PersistedState, type SavedConfig } from './persisted-state.js';

export interface ActiveHeldInMemory {
  /** The held node: the persisted active. */
  node: string;
  /** Its own settings, read before rbuddy changed any. */
  ownSettings: SavedConfig;
  /** True once it was made a held replica (the commands succeeded); until then it may answer nils. */
  held: boolean;
}

/** Whether the persisted state itself holds `node`: the record of its failover carries the mark. */
function recorded(persisted: PersistedState, node: string): boolean {
  const record = persisted.failover;
  return record?.outgoing === node && record.timeline.some((entry) => entry.step === ACTIVE_HELD);
}

export class ActiveHold {
  private memo: ActiveHeldInMemory | undefined;

  /** The hold kept in memory only, if any. */
  get current(): ActiveHeldInMemory | undefined {
    return this.memo;
  }

  /** The settings kept for `node`, if this process holds it in memory. */
  of(node: string): ActiveHeldInMemory | undefined {
    return this.memo?.node === node ? this.memo : undefined;
  }

  /** Kept (replacing an earlier one) until `settle` finds it on disk. */
  remember(held: ActiveHeldInMemory): void {
    this.memo = { ...held, ownSettings: { ...held.ownSettings } };
  }

  /**
   * Dropped once the persisted state holds the node itself, or names another active (a switch):
   * from then on the disk says it (syncHeld, persisted-state.ts).
   */
  settle(persisted: PersistedState | undefined): void {
    const memo = this.memo;
    if (memo === undefined || persisted === undefined) return;
    if (persisted.active !== memo.node || recorded(persisted, memo.node)) this.memo = undefined;
  }

  /** Why the engine is not healthy while the hold is in memory only, after a failed round. */
  reason(error: string | undefined): string | undefined {
    const memo = this.memo;
    if (memo === undefined) return undefined;
    const cause = error === undefined ? '' : `: ${error}`;
    return memo.held
      ? `the active ${memo.node} came back empty and is held (its reads answer -MASTERDOWN, its sync -NOMASTERLINK), but its failover cannot be recorded yet${cause}`
      : `the active ${memo.node} came back empty and could not be held yet (its reads may answer nils)${cause}`;
  }
}
