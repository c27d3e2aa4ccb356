// What "verified synced" means, as pure checks over what the engine observed (docs/design.md,
// "Roles and states", step 5 of a failover): the proxy's view of the session and the node's own
// INFO, and — for a node verified before — that it is still the same process holding the data.
// decide() asks these before a switch, a confirmed switch, and the retire that flushes (I2).
import { unreachable, type NodeView, type SessionView } from './node-view.js';
import type { FailoverRecord } from './persisted-state.js';

/** Why the two views are one redis-server (the same run_id), or undefined when they are two. */
export function sameServer(a: NodeView, b: NodeView): string | undefined {
  if (!a.reachable || !b.reachable || a.runId === undefined || a.runId !== b.runId)
    return undefined;
  return `${a.id} and ${b.id} report the same run_id ${a.runId}: they are one redis-server, not two replicas; give --active and --standby two different nodes`;
}

/**
 * Why switching to the synced standby would lose data an operator should look at first, or
 * undefined. An empty result replacing a dataset (--guard-empty hold): an unreachable active
 * counts as holding data, since its keys are unknown and once switched it would be flushed as
 * soon as it answers again. A result with fewer keys than --guard-shrink of the active's (a
 * master back with part of its data); that needs the active's count, and leaves the empty case
 * to --guard-empty, so `--guard-empty switch` keeps its meaning.
 */
export function dataLossGuard(
  incoming: NodeView,
  outgoing: NodeView,
  config: { guardEmpty: 'hold' | 'switch'; guardShrink: number },
): string | undefined {
  if (incoming.keys === 0) {
    if (config.guardEmpty !== 'hold') return undefined;
    if (!outgoing.reachable) {
      return `the synced standby is empty and the active's keys are unknown: ${unreachable(outgoing, 'active')}`;
    }
    return outgoing.keys > 0
      ? `the synced standby is empty but the active holds ${outgoing.keys} keys`
      : undefined;
  }
  if (config.guardShrink > 0 && outgoing.reachable) {
    if (incoming.keys < config.guardShrink * outgoing.keys) {
      return `the synced standby holds ${incoming.keys} keys, fewer than ${config.guardShrink} of the active's ${outgoing.keys} (--guard-shrink)`;
    }
  }
  return undefined;
}

/** Synced from both views: the proxy's (whole stream relayed, ACKed) and the node's INFO. */
export function isSynced(node: NodeView, session: SessionView): boolean {
  return syncProblem(node, session) === undefined;
}

/**
 * Why a held standby is not (or no longer) verified synced, or undefined.
 * `lasting` problems mean its verified dataset is gone or being replaced (it restarted, was
 * detached, takes a new sync): the failover goes back to waiting for its sync. The others may
 * pass (a link down while the master blips, a session not back yet after rbuddy restarted).
 */
export function heldStandbyProblem(
  record: FailoverRecord,
  node: NodeView,
  session: SessionView,
): SyncProblem | undefined {
  if (node.reachable && node.runId !== record.syncedRunId) {
    return {
      why:
        record.syncedRunId === undefined || record.syncedRunId === null
          ? `the run_id of the standby ${node.id} that synced is not recorded`
          : `the standby ${node.id} restarted since it synced (run_id ${node.runId ?? 'unknown'}, not ${record.syncedRunId})`,
      lasting: true,
    };
  }
  return syncProblem(node, session);
}

export interface SyncProblem {
  why: string;
  lasting: boolean;
}

function syncProblem(
  node: NodeView,
  session: SessionView,
  role = 'standby',
): SyncProblem | undefined {
  if (!node.reachable) return { why: unreachable(node, role), lasting: false };
  if (node.role !== 'slave' || !node.followsProxy) {
    return { why: `${node.id} does not replicate through rbuddy`, lasting: true };
  }
  if (node.syncInProgress || node.loading) {
    return { why: `${node.id} is taking a new sync (loading or sync in progress)`, lasting: true };
  }
  if (!node.linkUp) {
    return { why: `${node.id}'s link to the master is down`, lasting: false };
  }
  if (!session.streamingAcked) {
    return {
      why: `rbuddy has not seen ${node.id} stream and ACK on a live session`,
      lasting: false,
    };
  }
  return undefined;
}

/**
 * Why the new active, after a switch, is no longer the dataset that was verified, or undefined:
 * it is another process than the one verified synced (a restart: its `run_id` changed since the
 * switch recorded it), or it lost the data (none left of the keys verified, or fewer than
 * `guardShrink` of them). Neither passes by waiting. Both `syncedRunId` and `syncedKeys` are
 * recorded by the switch. A record without `syncedKeys` (written before the field, or not by a
 * switch at all) has no verified count: the outgoing node's keys (`outgoingKeys`) stand in for
 * it, so the node with the data is never flushed for an emptier one on the record's word alone.
 */
export function newActiveLost(
  record: FailoverRecord,
  node: NodeView,
  guardShrink: number,
  outgoingKeys?: number,
): string | undefined {
  if (!node.reachable) return undefined;
  const runId = record.syncedRunId;
  if (runId !== undefined && runId !== null && node.runId !== runId) {
    return `the new active ${node.id} restarted since it was verified synced (run_id ${node.runId ?? 'unknown'}, not ${runId}) and holds ${node.keys} keys`;
  }
  // While it loads its count is in flux: decided once it is done.
  if (node.loading) return undefined;
  const verified = record.syncedKeys;
  if (typeof verified !== 'number') {
    if (outgoingKeys === undefined || outgoingKeys === 0) return undefined;
    if (node.keys === 0 || (guardShrink > 0 && node.keys < guardShrink * outgoingKeys)) {
      return `the new active ${node.id} holds ${node.keys} keys, the outgoing node ${outgoingKeys}, and the failover record has no verified count`;
    }
    return undefined;
  }
  if (verified === 0) return undefined;
  if (node.keys === 0 || (guardShrink > 0 && node.keys < guardShrink * verified)) {
    return `the new active ${node.id} holds ${node.keys} keys, of the ${verified} verified when it synced`;
  }
  return undefined;
}

/**
 * Why the outgoing active may not be retired (flushed) yet, or undefined when it may (I2,
 * docs/design.md). `lost`: the new active restarted or lost its data (newActiveLost), so the
 * outgoing node may hold the only copy. `foreign`: the same process, but no longer a replica of
 * rbuddy (someone else changed it): an operator's matter. `wait`: it may pass (unreachable, or
 * loading). Its link and session are not asked for: the same process holding the verified data
 * is what makes the flush safe, and a master that goes away (or demands a full resync, which
 * the gate refuses) during the drain must not hold the retire forever: once retired, the
 * steady state handles the loss like any other.
 */
export function retireProblem(
  record: FailoverRecord,
  node: NodeView,
  guardShrink: number,
  outgoingKeys?: number,
): { why: string; kind: 'lost' | 'foreign' | 'wait' } | undefined {
  if (!node.reachable) return { why: unreachable(node, 'new active'), kind: 'wait' };
  const lost = newActiveLost(record, node, guardShrink, outgoingKeys);
  if (lost !== undefined) return { why: lost, kind: 'lost' };
  if (node.role !== 'slave' || !node.followsProxy) {
    return { why: `${node.id} does not replicate through rbuddy`, kind: 'foreign' };
  }
  if (node.loading || node.syncInProgress) {
    return { why: `${node.id} is loading a dataset`, kind: 'wait' };
  }
  return undefined;
}
