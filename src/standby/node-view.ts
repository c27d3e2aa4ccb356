// What the failover engine sees of a replica each round: the node's own report over rbuddy's
// control connection (INFO, built by node-ops.ts) and the proxy's view of its session. decide()
// and reconcile() take nothing else about the nodes.
import type { SessionPhase } from '../proxy/session-types.js';

/** What the engine saw of one replica over its control connection (INFO). */
export interface NodeView {
  id: string;
  reachable: boolean;
  error: string | undefined;
  role: 'master' | 'slave' | undefined;
  /** `master_host:master_port` as the node reports them (a replica), else undefined. */
  masterAddress: string | undefined;
  /** A replica of the proxy's announce address. */
  followsProxy: boolean;
  /** master_link_status:up */
  linkUp: boolean;
  /** master_sync_in_progress:1 */
  syncInProgress: boolean;
  /** loading:1 or async_loading:1 */
  loading: boolean;
  keys: number;
  runId: string | undefined;
  /** Its min-replicas settings are rbuddy's write guard (a master then refuses every write). */
  writesGuarded: boolean;
  /** Its `replica-serve-stale-data` (undefined when CONFIG GET was refused). */
  servesStaleData: boolean | undefined;
}

/**
 * The idle standby as rbuddy keeps it: a replica of rbuddy's announce address, its sync held by
 * rbuddy (link down, no sync under way) and `replica-serve-stale-data no`, so it answers every
 * read -MASTERDOWN and every write -READONLY (docs/design.md, "Roles and states").
 */
export function isHeldStandby(view: NodeView): boolean {
  return followsProxyUnlinked(view) && view.servesStaleData === false;
}

/** A reachable replica of rbuddy's announce address whose link is down and no sync under way. */
function followsProxyUnlinked(view: NodeView): boolean {
  return (
    view.reachable &&
    view.role === 'slave' &&
    view.followsProxy &&
    !view.linkUp &&
    !view.syncInProgress
  );
}

/**
 * A master with no keys and no write guard (not a promoted active): an active restarted without
 * its dataset. Every read there answers nil, so rbuddy holds it as it holds the idle standby
 * (errors, never nils) until the standby replaces it; its own settings are the failover record's.
 */
export function isEmptyMaster(view: NodeView): boolean {
  return (
    view.reachable &&
    view.role === 'master' &&
    view.keys === 0 &&
    !view.loading &&
    !view.writesGuarded
  );
}

/**
 * An empty replica of rbuddy's announce address, not linked, under a run_id other than the one
 * recorded for the active (`recordedRunId`): the active restarted without its dataset and follows
 * rbuddy again — by a `replicaof` in its own config file, or held by an rbuddy that died before it
 * could record the failover (active-hold.ts). It can never stream again: a full sync is what it
 * needs, and the gate refuses that to the active. It is held and replaced like an empty master.
 */
export function restartedEmpty(view: NodeView, recordedRunId: string | null | undefined): boolean {
  return (
    followsProxyUnlinked(view) &&
    !view.loading &&
    view.keys === 0 &&
    otherProcess(view, recordedRunId)
  );
}

/**
 * The active back empty, as a failover before its switch sees it (docs/design.md, "Roles and
 * states", the active back empty): an empty master (isEmptyMaster), an empty replica of rbuddy
 * under a new run_id (restartedEmpty), or a master with no keys under a new run_id that carries
 * rbuddy's write guard all the same: a promotion's guard that landed on the restarted process.
 * Never promoted: a master with no keys answers every read with a nil. A promoted active with no
 * keys under the run_id recorded is not back empty: its empty dataset is the one it had.
 */
export function backEmpty(view: NodeView, recordedRunId: string | null | undefined): boolean {
  if (isEmptyMaster(view) || restartedEmpty(view, recordedRunId)) return true;
  return (
    view.reachable &&
    view.role === 'master' &&
    view.keys === 0 &&
    !view.loading &&
    otherProcess(view, recordedRunId)
  );
}

/** Another process than the one recorded (a restart); unknown when nothing is recorded. */
function otherProcess(view: NodeView, recordedRunId: string | null | undefined): boolean {
  return (
    typeof recordedRunId === 'string' && view.runId !== undefined && view.runId !== recordedRunId
  );
}

/**
 * Why a node is not taken over, when it is a replica holding keys whose master is not this
 * rbuddy's announce address: another rbuddy (another --group, another instance's leftover) or a
 * master directly. Applications may read it, and whoever it follows may hold another dataset than
 * this rbuddy's master: told `REPLICAOF <announce>` before any state protects it, its PSYNC could
 * be answered +FULLRESYNC and the full sync would empty it (docs/design.md, "Restart and
 * reconciliation"). Undefined for any other node.
 */
export function servedElsewhere(view: NodeView, role: string): string | undefined {
  if (!view.reachable || view.role !== 'slave' || view.followsProxy || view.keys === 0) {
    return undefined;
  }
  const master = view.masterAddress ?? 'an unknown master';
  return `${role} ${view.id} holds ${view.keys} keys and replicates from ${master}, not from this rbuddy's announce address: it serves reads for another rbuddy (another --group?) or straight from a master; refusing to take it over (its sync through this rbuddy could be a full one, flushing it). Point it at this rbuddy's --announce (REPLICAOF) if this rbuddy is to manage it, or empty it`;
}

/**
 * Why a node must not be taken as this rbuddy's standby, or undefined: a replica of any address
 * but this rbuddy's announce, whatever its link. With no state of its own, rbuddy would adopt the
 * active (a promoted one, say) and then keep that node idle, while whoever it follows (another
 * rbuddy of another --group or --etcd-prefix on the same nodes, an operator's REPLICAOF) points it
 * back: a fight over the node every round, and that other rbuddy's failover stalls. A link that is
 * down is no sign that nobody manages the node: an rbuddy holds its idle standby so (its sync
 * answered -NOMASTERLINK) and does so again between the attempts of the standby it is syncing. In
 * a group, the replicas of the group's own instances (a dead leader, a past leader) are pointed at
 * the new leader by its takeover before its engine's first round, and again at any round that
 * sees one (src/ha/repoint-round.ts), so what is left following another address is not the
 * group's; rbuddy waits, and settles at the first round that finds the node following it.
 */
export function managedElsewhere(view: NodeView, role: string): string | undefined {
  if (!view.reachable || view.role !== 'slave' || view.followsProxy) return undefined;
  const master = view.masterAddress ?? 'an unknown master';
  const how = view.syncInProgress ? 'is syncing from' : 'replicates from';
  return `${role} ${view.id} ${how} ${master} (link ${view.linkUp ? 'up' : 'down'}), not from this rbuddy's announce address: another rbuddy (another --group or --etcd-prefix on the same nodes?) or an operator manages it (an rbuddy holds its idle standby with the link down); refusing to take the roles over while it follows ${master}: waiting, nothing is sent to either node. Stop that rbuddy, or point the node at this rbuddy's --announce (REPLICAOF) if this rbuddy is to manage it`;
}

export function unreachable(node: NodeView, role: string): string {
  return `${role} ${node.id} is unreachable${node.error === undefined ? '' : `: ${node.error}`}`;
}

/** The proxy's own view of a replica's session. */
export interface SessionView {
  phase: SessionPhase | undefined;
  /** Streaming (snapshot fully relayed, or +CONTINUE) and the replica has ACKed since. */
  streamingAcked: boolean;
}
