// Whether a full sync reached the node rbuddy named active while that node held data (I1,
// docs/design.md, "Invariants"), judged from outside rbuddy by three records of the checker's
// own: rbuddy's answers to GET /v1/status (which node is active, in which epoch), each node's key
// count with the PID of the process that answered, and the full syncs in the replicas' own logs
// (harness/redis-log.ts), which no sampling can miss.
//
// What is not a violation: a sync into the standby (the other node is active); into a node that
// held nothing (the first attach of the active at rbuddy's very first start, a node restarted
// empty: its process has another PID, and its count before the sync is 0); a sync that began
// while the roles changed (the standby's sync finishes before the switch names it active). A
// promotion (REPLICAOF NO ONE) and a process loading its own dump.rdb at start are no full sync,
// and are not in the log as one.
import type { FullSync } from './redis-log.js';

/**
 * One answer of rbuddy naming the active (GET /v1/status, with its epoch; GET /active, without),
 * with when it was asked and answered (ms since the Unix epoch).
 */
export interface RoleSample {
  askedAt: number;
  answeredAt: number;
  active: string | null;
  /** The epoch, when the answer gives it (GET /v1/status). */
  epoch?: number | null;
}

/** A node's key count, answered at `at` by process `pid`. */
export interface KeySample {
  at: number;
  pid: number;
  keys: number;
}

/** What the node's log says it held before the sync: the keys its last sync loaded, or what it
 * loaded at start (0: it started empty), and from when. */
export interface LoggedHolding {
  at: number;
  keys: number;
}

export type SyncVerdict =
  /** The violation: rbuddy named this node active all the while around the moment it began, and
   * the node held `keys` > 0. */
  | { verdict: 'into-active'; epoch: number | null; keys: number; keysSeenAt: number }
  /** rbuddy named it active, but it held nothing (restarted empty, first attach). */
  | { verdict: 'active-empty'; epoch: number | null }
  | { verdict: 'not-active'; active: string | null }
  /** The active changed between the answers closest to it, one naming this node: it began while
   * the roles changed (the standby's sync ends just before the switch names it active). */
  | { verdict: 'roles-changing'; before: RoleSample; after: RoleSample }
  /** No answer of rbuddy after it yet: ask again later. */
  | { verdict: 'wait' }
  | { verdict: 'unknown'; why: string };

const KEEP = 4_000;

export class ActiveSyncJudge {
  private readonly roles: RoleSample[] = [];
  private readonly keys = new Map<string, KeySample[]>();

  /** An answer of rbuddy's (a GET /active that named no node is no answer). */
  role(sample: RoleSample): void {
    push(this.roles, sample);
  }

  keyCount(node: string, sample: KeySample): void {
    let samples = this.keys.get(node);
    if (samples === undefined) {
      samples = [];
      this.keys.set(node, samples);
    }
    push(samples, sample);
  }

  judge(
    node: string,
    sync: Pick<FullSync, 'pid' | 'at'>,
    logged: LoggedHolding | undefined,
  ): SyncVerdict {
    const withEpoch = this.roles.filter((s) => s.epoch !== undefined);
    const after = firstAfter(withEpoch, sync.at);
    if (after === undefined) return { verdict: 'wait' };
    const before = lastBefore(withEpoch, sync.at);
    if (before === undefined) return { verdict: 'unknown', why: 'no answer of rbuddy before it' };
    // Epochs only grow and the active changes only with a new epoch (a switch, a switch back):
    // between two answers the active changed at most (epoch after − epoch before) times.
    const changes =
      before.epoch === after.epoch
        ? 0
        : before.epoch != null && after.epoch != null
          ? after.epoch - before.epoch
          : Infinity;
    let active: string | null;
    if (changes === 0 && before.active === after.active) active = after.active;
    else if (changes === 1) {
      // One change at most: if the answers closest to the sync (GET /active's, many a second,
      // among them) name one node, the change was not between them.
      const near = [before, after, ...this.roles.filter((s) => s.epoch === undefined)];
      const justBefore = lastBefore(near, sync.at) ?? before;
      const justAfter = firstAfter(near, sync.at) ?? after;
      if (justBefore.active !== justAfter.active) {
        return justBefore.active === node || justAfter.active === node
          ? { verdict: 'roles-changing', before: justBefore, after: justAfter }
          : { verdict: 'not-active', active: justAfter.active };
      }
      active = justAfter.active;
    } else if (before.active !== node && after.active !== node && changes === 0) {
      active = after.active;
    } else {
      return { verdict: 'roles-changing', before, after };
    }
    if (active !== node) return { verdict: 'not-active', active };
    const epoch = after.epoch ?? null;
    const sample = closest(
      this.keys.get(node) ?? [],
      (s) => s.pid === sync.pid && s.at <= sync.at,
      (s) => s.at,
    );
    // The latest of the two: a sync that finished after the last sample changed what it held.
    const held =
      sample !== undefined && (logged === undefined || sample.at >= logged.at) ? sample : logged;
    if (held === undefined) {
      return { verdict: 'unknown', why: `no key count of process ${sync.pid} before it` };
    }
    if (held.keys === 0) return { verdict: 'active-empty', epoch };
    return { verdict: 'into-active', epoch, keys: held.keys, keysSeenAt: held.at };
  }
}

/** The answer answered last at or before `t` (two observers may ask at once: no order assumed). */
function lastBefore(samples: readonly RoleSample[], t: number): RoleSample | undefined {
  return closest(
    samples,
    (s) => s.answeredAt <= t,
    (s) => s.answeredAt,
  );
}

/** The answer asked first at or after `t`. */
function firstAfter(samples: readonly RoleSample[], t: number): RoleSample | undefined {
  return closest(
    samples,
    (s) => s.askedAt >= t,
    (s) => -s.askedAt,
  );
}

/** The item that passes `test` with the highest `score`. */
function closest<T>(
  list: readonly T[],
  test: (item: T) => boolean,
  score: (item: T) => number,
): T | undefined {
  let best: T | undefined;
  for (const item of list) {
    if (test(item) && (best === undefined || score(item) > score(best))) best = item;
  }
  return best;
}

/** Appends, dropping the oldest beyond KEEP (minutes of samples; a sync is judged in seconds). */
function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
}
