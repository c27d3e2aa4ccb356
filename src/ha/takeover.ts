// The takeover of a new leader (docs/ha.md, "Takeover"): the replicas that follow another rbuddy
// instance of the group (the old leader, dead or deposed) are pointed at this instance's own
// --announce. Nothing else changes on them: a replica told REPLICAOF another address keeps its
// replication id and offset as a cached master (replicationSetMaster and replicationCacheMaster
// in replication.c), so the active's PSYNC through this proxy reaches the same master with the
// same id and offset and is answered +CONTINUE — no full sync, no read of an empty node. A
// replica following anything else (the master itself, a foreign master) is left to the engine,
// which reports it (decide.ts); only addresses known to be instances of the group are repointed.
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { NodeControl } from '../standby/ports.js';

/** `host:port` as one spelling: brackets of an IPv6 host dropped, lower case. */
export function addressKey(address: string): string {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return address.toLowerCase();
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  return `${host.toLowerCase()}:${address.slice(colon + 1)}`;
}

export interface TakeoverResult {
  /** Nodes told REPLICAOF this instance's announce. */
  repointed: string[];
  /** Every node was seen and none follows another instance any more: nothing left to do. */
  settled: boolean;
}

/**
 * Points every node that replicates from one of `otherInstances` (announce addresses) at this
 * instance. `ops` is the fenced control: a leader deposed meanwhile sends nothing.
 */
export async function repointReplicas(
  nodes: readonly ReplicaNode[],
  ops: NodeControl,
  otherInstances: ReadonlySet<string>,
): Promise<TakeoverResult> {
  const repointed: string[] = [];
  let settled = true;
  for (const node of nodes) {
    const view = await ops.view(node);
    if (!view.reachable) {
      settled = false;
      continue;
    }
    const master = view.masterAddress;
    if (view.role !== 'slave' || view.followsProxy || master === undefined) continue;
    if (!otherInstances.has(addressKey(master))) continue;
    await ops.attach(node);
    repointed.push(node.id);
  }
  return { repointed, settled };
}
