// What an instance that does not lead reports (docs/ha.md, "Followers"): the group's state as the
// leader last saved it in etcd, read back every poll. A follower observes nothing itself (only
// the leader probes and reads the nodes), so its engine status is derived from that state: its
// `state` names the failover step the group is at, and `degraded` when etcd cannot be read or no
// instance leads.
import type { EngineStatus } from '../standby/engine.js';
import type { PersistedState } from '../standby/persisted-state.js';
import type { LoadResult } from '../standby/state-store.js';
import type { EngineState } from '../standby/states.js';

/** The engine state a persisted state shows from outside. */
export function stateOf(persisted: PersistedState): EngineState {
  switch (persisted.failover?.step) {
    case undefined:
      return persisted.activeHoldsData ? 'healthy' : 'starting';
    case 'promoting':
    case 'syncing':
      return 'failing-over';
    case 'held':
      return 'held';
    case 'switched':
      return 'switching';
    case 'aborted':
      return 'degraded';
  }
}

export interface FollowerFacts {
  /** The last load of the group's state (undefined: none answered yet). */
  loaded: LoadResult | undefined;
  /**
   * The last state read that was valid: kept while the key holds garbage, so that discovery still
   * names the active the leader last saved (the leader, which reads the nodes, is not affected).
   */
  lastGood: PersistedState | undefined;
  /** Why etcd cannot be used, or null. */
  problem: string | null;
  leaderAnnounce: string | null;
}

export function followerStatus(facts: FollowerFacts): EngineStatus {
  const persisted = facts.loaded?.kind === 'ok' ? facts.loaded.state : facts.lastGood;
  let state: EngineState;
  let reason: string | null;
  if (facts.problem !== null) {
    state = 'degraded';
    reason = facts.problem;
  } else if (facts.loaded === undefined) {
    state = 'starting';
    reason = "reading the group's state from etcd";
  } else if (facts.loaded.kind === 'corrupt') {
    state = 'degraded';
    const kept =
      persisted === undefined
        ? 'no good state was read before'
        : `answering from the last good state read (epoch ${persisted.epoch})`;
    reason = `the group's state in etcd (${facts.loaded.file}) is corrupt: ${facts.loaded.why}; ${kept}`;
  } else if (facts.leaderAnnounce === null) {
    state = 'degraded';
    reason = 'no instance leads the group (an election is under way)';
  } else if (persisted === undefined) {
    state = 'starting';
    reason = `following ${facts.leaderAnnounce}: no state saved yet`;
  } else {
    state = stateOf(persisted);
    reason =
      state === 'degraded'
        ? `following ${facts.leaderAnnounce}: the failover was aborted`
        : `following ${facts.leaderAnnounce}`;
  }
  return {
    state,
    reason,
    epoch: persisted?.epoch ?? null,
    active: persisted?.active ?? null,
    standby: persisted?.standby ?? null,
    // Only the leader probes the master: a follower has no verdict of its own.
    masterUp: false,
    masterLostSince: null,
    failover: persisted?.failover ?? null,
    lastFailover: persisted?.lastFailover ?? null,
    lastError: null,
    lastOperatorRequest: null,
    nodes: [],
  };
}
