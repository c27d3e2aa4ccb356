// What the discovery commands know of rbuddy: its group, the replicas, who is active now, and the
// few facts about rbuddy itself that Sentinel's INFO, HELLO and SENTINEL CONFIG report.
import { createHash } from 'node:crypto';
import type { ReplicaNode } from '../nodes/replica-node.js';

/** Another rbuddy instance of the group, as the Sentinel subset describes it. */
export interface PeerSentinel {
  host: string;
  port: number;
  /** Its `myid`. */
  runid: string;
}

export interface DiscoveryView {
  group: string;
  /** The master the replicas follow (through the proxy). */
  master: { host: string; port: number };
  nodes: readonly ReplicaNode[];
  /** Current roles by node id; undefined before the engine has read its state. */
  roles: () => { active: string; standby: string } | undefined;
  /** The address rbuddy announces (SENTINEL CONFIG GET announce-ip / announce-port). */
  announce?: { host: string; port: number } | undefined;
  /** Sentinel's `myid`: 40 hex digits, stable for this group and address (sentinelId()). */
  myid?: string | undefined;
  /** The group's other rbuddy instances (`SENTINEL sentinels`); none when it runs alone. */
  sentinels?: (() => readonly PeerSentinel[]) | undefined;
  /** The RESP port (INFO's tcp_port). */
  port?: number | undefined;
  /** Connected clients on the RESP port (INFO's connected_clients). */
  connectedClients?: (() => number) | undefined;
  /** A node's `run_id` as last read from its INFO (SENTINEL MASTER's `runid`); undefined if unknown. */
  runId?: ((node: ReplicaNode) => string | undefined) | undefined;
  /** A node's `INFO` text (SENTINEL INFO-CACHE); a failure counts as "nothing cached". */
  nodeInfo?: ((node: ReplicaNode) => Promise<string>) | undefined;
}

/**
 * Sentinel's id is 40 hex characters, persisted in its config file so it survives restarts.
 * rbuddy has no such file to write; a digest of what identifies this rbuddy is as stable.
 */
export function sentinelId(group: string, announce: string): string {
  return createHash('sha1').update(`rbuddy\0${group}\0${announce}`).digest('hex');
}

/** Another instance of the group, by its --announce, as `SENTINEL sentinels` lists it. */
export function peerSentinel(group: string, announce: string): PeerSentinel {
  const colon = announce.lastIndexOf(':');
  return {
    host: announce.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(announce.slice(colon + 1)),
    runid: sentinelId(group, announce),
  };
}

export function activeNode(view: DiscoveryView): ReplicaNode | undefined {
  const roles = view.roles();
  return roles === undefined ? undefined : view.nodes.find((node) => node.id === roles.active);
}

export function wrongArgs(command: string): string {
  return `ERR wrong number of arguments for '${command}' command`;
}
