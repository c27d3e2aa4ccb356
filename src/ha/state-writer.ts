// Whether the group's `state` in etcd was written by a leader of the group (docs/ha.md, "Who
// wrote the state"). A leader saves it in a transaction fenced by its leader key and stamps it
// with that key's create revision (written-by.ts); anyone with access to the prefix can put
// anything there too (an operator's hand, a tool, a restore). An instance takes a state as the
// group's only when its stamp agrees with etcd's own record of who led when it was written: the
// state's mod revision is when it was written, and the leader key then had the stamped fence as
// its create revision. That is known without asking etcd's history while the current leader was
// elected before the write (its key has not changed since); for a state written before the
// current leadership (the last one of a leader that died, read in the takeover window) it is
// known from a leader key this instance saw alive, with the stamped fence, at a revision no older
// than the write (a key keeps its create revision only while it lives), or else from etcd's
// history of the leader key at that revision; and where etcd has compacted that history (only
// etcd's root may compact), the stamp is taken as it stands. A fence merely seen once is no proof:
// a value put after that leader's key was gone (its lease revoked or expired) carries its stamp
// too. What this cannot see: a hand that copied the stamp of a leader whose key still lives into
// its edit (a live leader writes its own state back within a poll; a dead one's key lives on for
// up to a lease: the retire's checks against the nodes are what stands then, docs/ha.md).
import type { WrittenBy } from './written-by.js';

/** A leader key as read: its create revision (the fence) and its holder's id. */
export interface LeaderKey {
  fence: number;
  id: string;
}

/** A leader key seen alive: `aliveAt`, the newest revision at which a read returned it. */
export interface SeenLeader {
  id: string;
  aliveAt: number;
}

export interface WriterEvidence {
  /** The stamp the state carries (null: none, or an unreadable one). */
  stamp: WrittenBy | null;
  /** The state key's mod revision: when it was written. */
  written: number;
  /** The leader key read after the state (null: nobody leads). */
  leader: LeaderKey | null;
  /** The fences of leader keys this instance has seen, with their holders' ids and when. */
  known: ReadonlyMap<number, SeenLeader>;
  /**
   * The leader key as it stood at `written`, from etcd's history: null when there was none;
   * undefined when not asked yet; 'compacted' when etcd no longer has that revision.
   */
  then?: LeaderKey | null | 'compacted';
}

export type WriterVerdict =
  | { kind: 'leader' }
  /** Not known from what was read: ask etcd's history of the leader key at `written`. */
  | { kind: 'ask-history' }
  | { kind: 'not-leader'; why: string };

/** Whether the stamp shows a leader of the group wrote the state, or what else to ask. */
export function judgeWriter(evidence: WriterEvidence): WriterVerdict {
  const { stamp, written, leader } = evidence;
  if (stamp === null) {
    return {
      kind: 'not-leader',
      why: `it carries no writtenBy (written at revision ${written} by hand, or by something other than a leader)`,
    };
  }
  const claims = `it says instance ${stamp.id} wrote it under fence ${stamp.fence}`;
  if (stamp.fence >= written) {
    return { kind: 'not-leader', why: `${claims}, but it was written at revision ${written}` };
  }
  if (leader !== null && leader.fence < written) {
    // The current leader key existed, unchanged, when the state was written.
    if (stamp.fence === leader.fence && stamp.id === leader.id) return { kind: 'leader' };
    return {
      kind: 'not-leader',
      why: `${claims}, but it was written at revision ${written}, while instance ${leader.id} led under fence ${leader.fence}`,
    };
  }
  // Written before the current leader was elected (or with nobody leading now): the stamped key
  // seen alive at or after the write was alive at the write.
  const seen = evidence.known.get(stamp.fence);
  if (seen !== undefined && seen.id === stamp.id && seen.aliveAt >= written) {
    return { kind: 'leader' };
  }
  const then = evidence.then;
  if (then === undefined) return { kind: 'ask-history' };
  if (then === 'compacted') return { kind: 'leader' };
  if (then === null) {
    return {
      kind: 'not-leader',
      why: `${claims}, but nobody led when it was written (revision ${written})`,
    };
  }
  if (then.fence === stamp.fence && then.id === stamp.id) return { kind: 'leader' };
  return {
    kind: 'not-leader',
    why: `${claims}, but it was written at revision ${written}, while instance ${then.id} led under fence ${then.fence}`,
  };
}

/** How many leader fences an instance remembers: far more than a group elects in a while. */
const FENCES_KEPT = 64;

/** The leader keys this instance has seen (its own elections among them), newest kept. */
export class SeenLeaders {
  private readonly fences = new Map<number, SeenLeader>();

  /** `key` was alive at revision `aliveAt` (the header revision of the read that returned it). */
  seen(key: LeaderKey, aliveAt: number): void {
    const before = this.fences.get(key.fence);
    if (before?.id === key.id && before.aliveAt >= aliveAt) return;
    this.fences.set(key.fence, { id: key.id, aliveAt: Math.max(aliveAt, key.fence) });
    if (this.fences.size > FENCES_KEPT) {
      const oldest = Math.min(...this.fences.keys());
      this.fences.delete(oldest);
    }
  }

  get known(): ReadonlyMap<number, SeenLeader> {
    return this.fences;
  }
}
