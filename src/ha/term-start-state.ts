// The group's state a new leader's term begins on (docs/ha.md, "The state is the leader's
// record"): what etcd holds, unless this instance knows a state a leader wrote that should stand
// instead. Written back, fenced, before the engine reads it; the engine then judges it against
// the nodes as any state.
import type { Logger } from 'pino';
import type { LoadResult } from '../standby/state-store.js';
import type { GroupStateStore } from './coordination.js';
import type { FollowedState } from './followed-state.js';

/**
 * The group's state for a new term. One that no leader wrote (docs/ha.md, "Who wrote the state")
 * is replaced, before anything reads it, by the last version a leader wrote: from etcd's history
 * (what the previous leader left), else the last one this instance read as a follower. With
 * neither, it stays refused. One deleted during a failover is written back from what this
 * instance read, and so is one set back to an older epoch (etcd restored from a backup with
 * nobody leading): epochs never go back, and the newer state names the node a later switch made
 * the active, where the older one names a node that may have been flushed since.
 */
export async function termStartState(
  store: GroupStateStore,
  followed: FollowedState,
  log: Logger,
): Promise<LoadResult> {
  const found = await store.load();
  const last = followed.lastGood;
  const resumed = followed.beforeDeletion ?? (last?.failover != null ? last : undefined);
  if (found.kind === 'missing' && resumed !== undefined) {
    // Deleted under a failover whose leader is gone: read from the nodes mid-switch, both may
    // serve reads and nothing is named until someone flushes one by hand.
    log.warn(
      { epoch: resumed.epoch, active: resumed.active, failover: resumed.failover?.step },
      "the group's state in etcd is missing during a failover: writing back the last state a leader wrote before taking over",
    );
    await store.save(resumed);
    return store.load();
  }
  if (found.kind === 'ok' && last !== undefined && found.state.epoch < last.epoch) {
    log.warn(
      { found: found.state.epoch, epoch: last.epoch, active: last.active },
      "the group's state in etcd went back to an older epoch: writing back the newer state a leader wrote, read as a follower, before taking over",
    );
    await store.save(last);
    return store.load();
  }
  if (found.kind !== 'corrupt' || found.untrusted !== true) return found;
  const history = await store.lastLeaderWritten?.();
  const good = history ?? followed.lastGood;
  if (good === undefined) return found;
  log.warn(
    {
      found: found.why,
      from: history === undefined ? 'the last state this instance read' : "etcd's history",
      epoch: good.epoch,
      active: good.active,
      failover: good.failover?.step,
    },
    "the group's state in etcd was not written by its leader: writing back the last version a leader wrote before taking over",
  );
  await store.save(good);
  return store.load();
}
