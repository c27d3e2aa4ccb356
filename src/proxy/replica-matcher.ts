// Which configured replica is this connection? (SPEC §4.5). Decided by pure functions over
// what the connection said and what the nodes report; the I/O that gathers those observations
// lives in ReplicaMatcher at the bottom.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ReplicaNode, SyncRequest } from './session-types.js';

export interface ConnectionIdentity {
  peerAddress: string;
  peerPort: number;
  listeningPort: number | undefined;
  announcedIp: string | undefined;
  request: SyncRequest;
}

export interface AddressCandidate {
  node: ReplicaNode;
  /** Every IP the node's configured host resolves to. */
  addresses: readonly string[];
}

export type AddressMatch =
  | { kind: 'matched'; node: ReplicaNode }
  | { kind: 'ambiguous'; candidates: ReplicaNode[] }
  | { kind: 'none'; why: string };

/** "::ffff:10.0.0.1" and "10.0.0.1" are the same peer; IPv6 compares lower-case. */
export function normalizeIp(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

/**
 * First pass: the replica's listening port must be a configured replica's port, and its
 * announced IP (replica-announce-ip) or, failing that, its peer IP one of that node's
 * addresses. A port match whose IP does not match (NAT, containers) is ambiguous, not a
 * stranger: the second pass asks the nodes themselves.
 */
export function matchByAddress(
  identity: ConnectionIdentity,
  candidates: readonly AddressCandidate[],
): AddressMatch {
  if (identity.listeningPort === undefined) {
    return { kind: 'none', why: 'sent no REPLCONF listening-port' };
  }
  const byPort = candidates.filter((c) => c.node.port === identity.listeningPort);
  if (byPort.length === 0) {
    return {
      kind: 'none',
      why: `listening-port ${identity.listeningPort} is no configured replica's`,
    };
  }
  const ip = normalizeIp(identity.announcedIp ?? identity.peerAddress);
  const byIp = byPort.filter(
    (c) =>
      c.addresses.some((address) => normalizeIp(address) === ip) ||
      (identity.announcedIp !== undefined && c.node.host === identity.announcedIp),
  );
  if (byIp.length === 1 && byIp[0] !== undefined) return { kind: 'matched', node: byIp[0].node };
  return { kind: 'ambiguous', candidates: (byIp.length > 1 ? byIp : byPort).map((c) => c.node) };
}

/** What a node says about its own replication link (INFO replication, CLIENT LIST TYPE master). */
export interface NodeLinkObservation {
  node: ReplicaNode;
  /** `laddr` of its master link(s), as the node sees them. */
  localAddresses: readonly string[];
  role: 'master' | 'slave' | 'unknown';
  masterHost: string | undefined;
  masterPort: number | undefined;
  linkUp: boolean;
  replid: string | undefined;
  offset: number | undefined;
}

/**
 * Second pass, for ambiguous port matches. A node is this connection if its master link's
 * local address is the connection's peer address (CLIENT LIST TYPE master laddr, which exists
 * once a link is established), or — during a handshake, when Redis has no master client yet —
 * if it is a replica of the proxy whose link is down and whose own replid and offset are
 * exactly what the PSYNC asked for. Exactly one node must qualify; otherwise no guess.
 */
export function matchByObservation(
  identity: ConnectionIdentity,
  announce: { host: string; port: number },
  observations: readonly NodeLinkObservation[],
): ReplicaNode | undefined {
  const peer = `${normalizeIp(identity.peerAddress)}:${identity.peerPort}`;
  const byLaddr = observations.filter((o) =>
    o.localAddresses.some((laddr) => normalizeLaddr(laddr) === peer),
  );
  if (byLaddr.length === 1) return byLaddr[0]?.node;

  const request = identity.request;
  const byReplicationState = observations.filter((o) => {
    if (o.role !== 'slave' || o.linkUp) return false;
    if (o.masterPort !== announce.port) return false;
    if (o.masterHost !== undefined && o.masterHost !== announce.host) return false;
    if (request.kind !== 'psync' || request.replid === '?') return true;
    return o.replid === request.replid && o.offset !== undefined && o.offset + 1 === request.offset;
  });
  return byReplicationState.length === 1 ? byReplicationState[0]?.node : undefined;
}

function normalizeLaddr(laddr: string): string {
  const colon = laddr.lastIndexOf(':');
  if (colon < 0) return laddr;
  return `${normalizeIp(laddr.slice(0, colon).replace(/^\[|\]$/g, ''))}:${laddr.slice(colon + 1)}`;
}

/** Parses `CLIENT LIST` output into the `laddr` of each line. */
export function parseClientListLaddrs(clientList: string): string[] {
  const result: string[] = [];
  for (const line of clientList.split('\n')) {
    const match = /(?:^| )laddr=(\S+)/.exec(line);
    if (match?.[1] !== undefined) result.push(match[1]);
  }
  return result;
}

/** Parses `INFO replication` into the fields the matcher needs. */
export function parseReplicationInfo(
  node: ReplicaNode,
  info: string,
  localAddresses: readonly string[],
): NodeLinkObservation {
  const fields = new Map<string, string>();
  for (const line of info.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  const role = fields.get('role');
  const port = Number(fields.get('master_port'));
  const offset = Number(fields.get('master_repl_offset'));
  return {
    node,
    localAddresses,
    role: role === 'master' || role === 'slave' ? role : 'unknown',
    masterHost: fields.get('master_host'),
    masterPort: Number.isInteger(port) ? port : undefined,
    linkUp: fields.get('master_link_status') === 'up',
    replid: fields.get('master_replid'),
    offset: Number.isSafeInteger(offset) ? offset : undefined,
  };
}

/** The questions the matcher asks a node over its control connection. */
export interface NodeInspector {
  replicationInfo(node: ReplicaNode): Promise<string>;
  masterClientList(node: ReplicaNode): Promise<string>;
}

export type MatchOutcome = { node: ReplicaNode } | { node: undefined; why: string };

export class ReplicaMatcher {
  constructor(
    private readonly nodes: () => readonly ReplicaNode[],
    private readonly announce: () => { host: string; port: number },
    private readonly inspector: NodeInspector,
    private readonly resolve: (host: string) => Promise<string[]> = resolveHost,
  ) {}

  async match(identity: ConnectionIdentity): Promise<MatchOutcome> {
    const candidates = await Promise.all(
      this.nodes().map(async (node) => ({ node, addresses: await this.resolve(node.host) })),
    );
    const first = matchByAddress(identity, candidates);
    if (first.kind === 'matched') return { node: first.node };
    if (first.kind === 'none') return { node: undefined, why: first.why };

    const observations = await Promise.all(
      first.candidates.map(async (node) => {
        const [info, clients] = await Promise.all([
          this.inspector.replicationInfo(node).catch(() => ''),
          this.inspector.masterClientList(node).catch(() => ''),
        ]);
        return parseReplicationInfo(node, info, parseClientListLaddrs(clients));
      }),
    );
    const node = matchByObservation(identity, this.announce(), observations);
    return node !== undefined
      ? { node }
      : {
          node: undefined,
          why: `ambiguous: ${first.candidates.map((n) => n.id).join(', ')} could be this connection and none confirms it`,
        };
  }
}

async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  try {
    const records = await lookup(host, { all: true });
    return records.map((record) => record.address);
  } catch {
    return [];
  }
}
