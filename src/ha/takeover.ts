// The takeover of a new leader (docs/ha.md, "Takeover"): the replicas that follow another rbuddy
// instance of the group (the old leader, dead or deposed) are pointed at this instance's own
// --announce. Nothing else changes on them: a replica told REPLICAOF another address keeps its
// replication id and offset as a cached master (replicationSetMaster and replicationCacheMaster
// in replication.c), so the active's PSYNC through this proxy reaches the same master with the
// same id and offset and is answered +CONTINUE — no full sync, no read of an empty node. A
// replica following anything else (the master itself, a foreign master) is left to the engine,
// which reports it (decide.ts); only addresses known to be instances of the group are repointed:
// those seen registered or leading, and the group's past leaders (past-leaders.ts) once what
// answers there says it is still the group's (address-check.ts).
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { NodeView } from '../standby/node-view.js';
import type { NodeControl } from '../standby/ports.js';
import type { AddressVerdict } from './address-check.js';

/** `host:port` as one spelling: brackets of an IPv6 host dropped, lower case. */
export function addressKey(address: string): string {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return address.toLowerCase();
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  return `${host.toLowerCase()}:${address.slice(colon + 1)}`;
}

/** The addresses a replica may follow that are (or were) instances of the group. */
export interface GroupAddresses {
  /** Seen registered in etcd or leading (addressKey spelling): repointed without a question. */
  seen: ReadonlySet<string>;
  /**
   * Past leaders not seen live, by addressKey, each as stored: repointed once `check` says
   * nothing answers there or an instance of the group does.
   */
  former: ReadonlyMap<string, string>;
  check(announce: string): Promise<AddressVerdict>;
}

/**
 * The group's addresses for a takeover by the instance at `own`: the instances it saw, and the
 * past leaders it did not see (never its own --announce: a replica of it needs no takeover).
 */
export function groupAddresses(
  own: string,
  seen: Iterable<string>,
  pastLeaders: readonly string[],
  check: (announce: string) => Promise<AddressVerdict>,
): GroupAddresses {
  const self = addressKey(own);
  const live = new Set([...seen].map(addressKey).filter((key) => key !== self));
  const former = new Map<string, string>();
  for (const announce of pastLeaders) {
    const key = addressKey(announce);
    if (key !== self && !live.has(key)) former.set(key, announce);
  }
  return { seen: live, former, check };
}

/**
 * Whether one of `views` (the engine's last look at the nodes) is a replica of an instance of the
 * group other than this one: a round of repointReplicas is due. Past leaders' addresses already
 * judged foreign (`foreign`, addressKey spelling) are not asked about again for it.
 */
export function repointDue(
  views: readonly NodeView[],
  group: GroupAddresses,
  foreign: ReadonlySet<string>,
): boolean {
  return views.some((view) => {
    const master = view.masterAddress;
    if (!view.reachable || view.role !== 'slave' || view.followsProxy || master === undefined) {
      return false;
    }
    const key = addressKey(master);
    return group.seen.has(key) || (group.former.has(key) && !foreign.has(key));
  });
}

/** A replica that follows a past leader's address and was not repointed, and why. */
export interface LeftAlone {
  node: string;
  master: string;
  /** Asked again at the next round (nothing could be concluded yet). */
  retry: boolean;
  why: string;
}

export interface TakeoverResult {
  /** Nodes told REPLICAOF this instance's announce. */
  repointed: string[];
  leftAlone: LeftAlone[];
  /** Every node was seen and none is left to decide on: nothing left to do. */
  settled: boolean;
}

/**
 * Points every node that replicates from an instance of the group (`group`) at this instance.
 * `ops` is the fenced control: a leader deposed meanwhile sends nothing.
 */
export async function repointReplicas(
  nodes: readonly ReplicaNode[],
  ops: NodeControl,
  group: GroupAddresses,
): Promise<TakeoverResult> {
  const repointed: string[] = [];
  const leftAlone: LeftAlone[] = [];
  let settled = true;
  // One question per address and round, however many replicas follow it.
  const verdicts = new Map<string, Promise<AddressVerdict>>();
  for (const node of nodes) {
    const view = await ops.view(node);
    if (!view.reachable) {
      settled = false;
      continue;
    }
    const master = view.masterAddress;
    if (view.role !== 'slave' || view.followsProxy || master === undefined) continue;
    const key = addressKey(master);
    if (!group.seen.has(key)) {
      const announce = group.former.get(key);
      if (announce === undefined) continue;
      let asked = verdicts.get(key);
      if (asked === undefined) {
        asked = group.check(announce);
        verdicts.set(key, asked);
      }
      const verdict = await asked;
      const left = leftAloneBy(verdict, view.linkUp);
      if (left !== undefined) {
        leftAlone.push({ node: node.id, master, ...left });
        if (left.retry) settled = false;
        continue;
      }
    }
    await ops.attach(node);
    repointed.push(node.id);
  }
  return { repointed, leftAlone, settled };
}

/** Why a replica of a past leader's address stays as it is; undefined: repoint it. */
function leftAloneBy(
  verdict: AddressVerdict,
  linkUp: boolean,
): { retry: boolean; why: string } | undefined {
  switch (verdict.kind) {
    case 'instance':
      return undefined;
    case 'gone':
      // Something serves the replica there that this instance cannot reach: not concluded.
      return linkUp
        ? { retry: true, why: `its link is up, yet nothing answers there: ${verdict.why}` }
        : undefined;
    case 'foreign':
      return {
        retry: false,
        why: `it answers, and is not an instance of this group (${verdict.why})`,
      };
    case 'unknown':
      return { retry: true, why: `what answers there could not be told: ${verdict.why}` };
  }
}
