// The group's state as an instance reads it from etcd every poll (docs/ha.md, "Leader and
// followers"): the last load, the last valid state a leader wrote (what a follower answers
// discovery from), and whether that view is fresh enough to name a node (view-freshness.ts).
// Garbage in the key, or a state no leader wrote (etcd-state-store.ts), keeps the last valid state
// (discovery goes on naming its active, while that view is fresh), and so do an older state put
// back (its active may have been flushed since) and a key removed under a leader (which writes it
// back), until a live leader reports that epoch: one seen writing its report again, not a report
// etcd restored from a backup beside the leader key of its time. A key removed with nobody leading
// is no state at all, as before it was ever saved (the store still remembers the highest epoch it
// read: a state rebuilt then takes the next, etcd-state-store.ts).
import type { Logger } from 'pino';
import type { PersistedState } from '../standby/persisted-state.js';
import type { LoadResult, StateStore } from '../standby/state-store.js';
import { ViewFreshness } from './view-freshness.js';

export class FollowedState {
  /** The last load of the group's state (undefined: none answered yet). */
  loaded: LoadResult | undefined;
  /** The last valid state read. */
  lastGood: PersistedState | undefined;
  /**
   * The last valid state read before the key went missing with nobody leading, when it had a
   * failover under way: a new leader resumes that failover (docs/ha.md, "The state is the
   * leader's record") instead of reading the nodes mid-switch. Forgotten once a state is read.
   */
  beforeDeletion: PersistedState | undefined;
  /** Why the key was last found corrupt (or not written by a leader): logged once per value. */
  private corruptSeen: string | undefined;
  private readonly freshness: ViewFreshness;

  /** `leaseMs`: how long a view may name a node after the read behind it was sent. */
  constructor(
    leaseMs: () => number,
    private readonly log: Logger,
    now?: () => number,
  ) {
    this.freshness = new ViewFreshness(leaseMs, now);
  }

  /**
   * Reads the state once. `reported`: the epoch the current leader reports (null: none), and
   * `live`: the one it reports once seen writing its report again; `quiet`: a running leader's
   * engine reports what it finds itself. Rejects when etcd did not answer (the last state read is
   * kept).
   */
  async read(
    store: StateStore,
    reported: { epoch: number | null; live: number | null },
    quiet: boolean,
  ): Promise<void> {
    const sentAt = this.freshness.sending();
    const loaded = await store.load();
    this.loaded = loaded;
    const last = this.lastGood;
    if (loaded.kind === 'ok') {
      const wentBack = last !== undefined && loaded.state.epoch < last.epoch;
      if (!wentBack || reported.live === loaded.state.epoch) this.lastGood = loaded.state;
      this.beforeDeletion = undefined;
      // Only a successful read of the state refreshes the view: not a corrupt one, and not the
      // lease's renewal (which says nothing of the state). One set back refreshes the state
      // kept: etcd answered, and a later switch would be read (a higher epoch, or one the
      // leader reports).
      this.freshness.read(sentAt);
    } else if (loaded.kind === 'missing' && reported.epoch === null) {
      if (this.lastGood?.failover != null) this.beforeDeletion = this.lastGood;
      this.lastGood = undefined;
    }
    this.noteCorrupt(loaded, quiet);
  }

  /** The last valid state read, while it is fresh. */
  freshView(): PersistedState | undefined {
    return this.freshness.fresh() ? this.lastGood : undefined;
  }

  /** Why the view may be stale (it names no node then), or undefined. */
  staleness(): string | undefined {
    return this.freshness.staleness();
  }

  private noteCorrupt(loaded: LoadResult, quiet: boolean): void {
    const why = loaded.kind === 'corrupt' ? loaded.why : undefined;
    if (why !== undefined && why !== this.corruptSeen && !quiet) {
      const untrusted = loaded.kind === 'corrupt' && loaded.untrusted === true;
      this.log.warn(
        { file: loaded.file, why, answeringFrom: this.lastGood?.epoch ?? null },
        untrusted
          ? "the group's state in etcd was not written by its leader: answering from the last state a leader wrote"
          : "the group's state in etcd is corrupt: answering from the last valid state read",
      );
    }
    this.corruptSeen = why;
  }
}
