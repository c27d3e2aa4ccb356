// What an instance that does not lead reports (docs/ha.md, "Followers"). A follower observes
// nothing itself (only the leader probes and reads the nodes): its `state`, `reason` and
// `masterUp` are the leader's live report (published on the leader's lease), and it is `degraded`
// when etcd cannot be read, no instance leads, or the leader has reported nothing yet: it never
// claims a health it cannot know. Roles, epoch and the failover record come from the group's
// state as the leader last saved it in etcd, read back every poll; the roles only while that read
// is fresh (view-freshness.ts): an older view names no active, so status does not either. A key
// that holds garbage or a state no leader wrote (etcd-state-store.ts), went back to an older
// epoch no leader reports, or was removed while a leader reports a state, is `degraded`, and the
// last good state read stands for it (never `healthy` naming no active).
import type { EngineStatus } from '../standby/engine.js';
import type { LeaderReport } from './coordination.js';
import type { PersistedState } from '../standby/persisted-state.js';
import type { LoadResult } from '../standby/state-store.js';
import type { EngineState } from '../standby/states.js';

export interface FollowerFacts {
  /** The last load of the group's state (undefined: none answered yet). */
  loaded: LoadResult | undefined;
  /**
   * The state discovery answers from: the last one read that was valid, kept while the key holds
   * garbage, went back to an older epoch, or was removed under a leader (Leadership.poll), so
   * that discovery still names the active the leader last saved (the leader, which reads the
   * nodes, is not affected).
   */
  lastGood: PersistedState | undefined;
  /** Why etcd cannot be used, or null. */
  problem: string | null;
  /** Why the view read from etcd may be stale (it names no node then), or null while fresh. */
  stale: string | null;
  leaderAnnounce: string | null;
  /** This instance was elected and its term has not read the state yet. */
  selfLeads: boolean;
  /** The current leader's live report, null when it published none. */
  report: LeaderReport | null;
}

export function followerStatus(facts: FollowerFacts): EngineStatus {
  // What discovery names: the key as read, unless it holds garbage, went back to an older epoch,
  // or was removed under a leader (Leadership.poll keeps the last good state then).
  const persisted = facts.lastGood;
  const kept =
    persisted === undefined
      ? 'naming no active meanwhile'
      : `answering from the last good state read (epoch ${persisted.epoch})`;
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
    const what = facts.loaded.untrusted === true ? 'was not written by its leader' : 'is corrupt';
    reason = `the group's state in etcd (${facts.loaded.file}) ${what}: ${facts.loaded.why}; ${kept}`;
  } else if (
    facts.loaded.kind === 'missing' &&
    facts.report !== null &&
    facts.report.epoch !== null
  ) {
    // Never `healthy` with no active: the leader has a state, and writes it back.
    state = 'degraded';
    reason = `the group's state is missing from etcd (${facts.loaded.file}) while the leader ${facts.leaderAnnounce ?? ''} reports epoch ${facts.report.epoch} (deleted?): ${kept} until the leader writes it back`;
  } else if (
    facts.loaded.kind === 'ok' &&
    persisted !== undefined &&
    facts.loaded.state.epoch < persisted.epoch
  ) {
    state = 'degraded';
    reason = `the group's state in etcd (${facts.loaded.file}) went back from epoch ${persisted.epoch} to ${facts.loaded.state.epoch} (an older value put back?) and no leader reports that epoch: ${kept}`;
  } else if (facts.leaderAnnounce === null) {
    state = 'degraded';
    reason = 'no instance leads the group (an election is under way)';
  } else if (facts.selfLeads) {
    state = 'starting';
    reason = "elected: reading the group's state before taking over";
  } else if (facts.report === null) {
    state = 'degraded';
    reason = `following: the leader ${facts.leaderAnnounce} has reported no state yet`;
  } else {
    state = facts.report.state;
    const why = facts.report.reason === null ? '' : `: ${facts.report.reason}`;
    reason = `following: the leader ${facts.leaderAnnounce} reports ${state}${why}`;
  }
  // Whatever else holds: a view that may be older than the leader's last switch names nothing.
  const stale = facts.loaded !== undefined && facts.stale !== null;
  if (stale) {
    reason = state === 'degraded' && reason !== null ? `${facts.stale}; ${reason}` : facts.stale;
    state = 'degraded';
  }
  return {
    state,
    reason,
    epoch: persisted?.epoch ?? null,
    active: stale ? null : (persisted?.active ?? null),
    standby: stale ? null : (persisted?.standby ?? null),
    // Only the leader probes the master: a follower has no verdict of its own, only the leader's.
    masterUp: facts.report?.masterUp ?? false,
    masterLostSince: null,
    failover: persisted?.failover ?? null,
    lastFailover: persisted?.lastFailover ?? null,
    lastError: null,
    lastOperatorRequest: null,
    nodes: [],
  };
}
