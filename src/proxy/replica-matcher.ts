// Which configured replica is this connection? What a connection says about itself
// (`REPLCONF listening-port`, `ip-address`, its PSYNC) is only a claim: anyone who can reach the
// port can say it. A claim becomes a session only once the node itself confirms it over the
// proxy's control connection (docs/design.md, "Identity of a replica"). Until then nothing reaches
// the master on the connection's behalf and no live session is replaced.
//
// The decision is a pure function over what the nodes report (verifyClaim); the I/O that gathers
// those reports, and the waiting, live in ReplicaMatcher at the bottom.
import { normalizeIp, resolveHost } from '../addresses.js';
import type { SyncRequest } from './session-types.js';
import type { NodeInspector } from '../nodes/node-inspector.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import {
  matchIdentity,
  type CertificateNames,
  type IdentityPattern,
} from '../tls/peer-identity.js';

export interface ConnectionIdentity {
  peerAddress: string;
  peerPort: number;
  listeningPort: number | undefined;
  announcedIp: string | undefined;
  request: SyncRequest;
  /** The per-replica user the connection AUTHed as (--replica-credentials), if any. */
  replicaUser?: string | undefined;
  /** The names of the client certificate the TLS listener verified, if one was presented. */
  certificate?: CertificateNames | undefined;
}

/** What a node says about its own replication link (ROLE). */
export interface NodeLinkObservation {
  node: ReplicaNode;
  /** Why the node could not be asked (unreachable, refused the command). */
  error?: string;
  role: 'master' | 'slave' | 'unknown';
  /** Whether the master the node follows is the proxy's announce address. */
  followsProxy: boolean;
  /**
   * ROLE's link state for a replica: `handshake` from the TCP connect until the PSYNC reply,
   * then `sync` (receiving the snapshot) and `connected` (replicationGetSlaveStateString).
   */
  linkState: string | undefined;
}

export type ClaimVerdict =
  | {
      kind: 'verified';
      node: ReplicaNode;
      /** How the node proved it: handshaking with us, and this the only connection it can be. */
      proof: 'sole-handshake';
    }
  /** Nothing contradicts the claim yet, but it cannot be told apart from another connection. */
  | { kind: 'wait'; why: string }
  | { kind: 'refused'; why: string };

/**
 * Decides a claim from what the candidate nodes report. A node is this connection only if it is
 * a replica of the proxy that is in its replication handshake right now (so it has no live link
 * that this connection could replace), and no other open connection on the listener, and no live
 * session of that node, could be its handshake (`rivals` counts them): the node is handshaking
 * with the proxy, so one of our connections is its, and this is the only one it can be.
 *
 * What the PSYNC names proves nothing: a node's replid and offset are in its INFO, in
 * /v1/status and in the stream itself, so anyone who can read any of those could name them (a
 * review found exactly that), and a fresh replica's `PSYNC ? -1` or inline SYNC name nothing.
 */
export function verifyClaim(
  identity: ConnectionIdentity,
  observations: readonly NodeLinkObservation[],
  rivals: (node: ReplicaNode) => number,
): ClaimVerdict {
  if (identity.listeningPort === undefined) {
    return { kind: 'refused', why: 'sent no REPLCONF listening-port' };
  }
  if (observations.length === 0) {
    return {
      kind: 'refused',
      why: `listening-port ${identity.listeningPort} is no configured replica's`,
    };
  }
  const verified: Extract<ClaimVerdict, { kind: 'verified' }>[] = [];
  const reasons: string[] = [];
  let waiting: string | undefined;
  for (const o of observations) {
    const id = o.node.id;
    if (o.error !== undefined) {
      reasons.push(`${id} cannot confirm it (${o.error})`);
    } else if (o.role !== 'slave' || !o.followsProxy) {
      reasons.push(`${id} does not replicate from rbuddy (role ${o.role})`);
    } else if (o.linkState !== 'handshake') {
      reasons.push(`${id} is not in a replication handshake (link ${o.linkState ?? 'unknown'})`);
    } else {
      const others = rivals(o.node);
      if (others === 0) verified.push({ kind: 'verified', node: o.node, proof: 'sole-handshake' });
      else waiting = `${others} other connection(s) could be ${id}'s handshake`;
    }
  }
  if (verified.length === 1 && verified[0] !== undefined) return verified[0];
  if (verified.length > 1) {
    return {
      kind: 'wait',
      why: `${verified.map((v) => v.node.id).join(' and ')} could each be this connection`,
    };
  }
  if (waiting !== undefined) return { kind: 'wait', why: waiting };
  return { kind: 'refused', why: reasons.join('; ') };
}

/**
 * Per-replica credentials bind a connection to one node: a connection that AUTHed as a replica's
 * own user can be that replica or nobody, and a replica that has a user of its own is never
 * recognised on a connection that did not AUTH as it. Returns the nodes still possible.
 */
export function candidatesFor(
  identity: ConnectionIdentity,
  nodes: readonly ReplicaNode[],
  boundUser: (node: ReplicaNode) => string | undefined,
): { nodes: ReplicaNode[] } | { refused: string } {
  const byPort = nodes.filter((node) => node.port === identity.listeningPort);
  const user = identity.replicaUser;
  if (user !== undefined) {
    const own = nodes.find((node) => boundUser(node) === user);
    if (own === undefined || !byPort.includes(own)) {
      return {
        refused: `authenticated as replica user "${user}" but claims listening-port ${identity.listeningPort ?? 'none'}`,
      };
    }
    return { nodes: [own] };
  }
  const open = byPort.filter((node) => boundUser(node) === undefined);
  if (open.length === 0 && byPort.length > 0) {
    return {
      refused: `${byPort.map((node) => node.id).join(', ')} must authenticate as its own replica user`,
    };
  }
  return { nodes: open };
}

/**
 * A verified client certificate is part of the claim: a connection that presents one can only be
 * a node whose identity patterns (--active-tls-identity, --standby-tls-identity; by default the
 * node's host as a subjectAltName) match it. Decided before any node is asked and before anything
 * reaches the master. A connection without a certificate (the plain listener, or
 * --tls-auth-clients optional without one) is left to the other rules. Returns the nodes still
 * possible, each with the pattern and name that matched.
 */
export function certificateCandidates(
  identity: ConnectionIdentity,
  nodes: readonly ReplicaNode[],
  identityOf: (node: ReplicaNode) => readonly IdentityPattern[],
): { nodes: ReplicaNode[]; matched: ReadonlyMap<string, string> } | { refused: string } {
  const names = identity.certificate;
  if (names === undefined) return { nodes: [...nodes], matched: new Map() };
  const matched = new Map<string, string>();
  for (const node of nodes) {
    const match = matchIdentity(names, identityOf(node));
    if (match.matched) matched.set(node.id, `${match.pattern} matched ${match.name}`);
  }
  const kept = nodes.filter((node) => matched.has(node.id));
  if (kept.length === 0 && nodes.length > 0) {
    const wanted = nodes
      .map((node) => `${node.id} is ${identityOf(node).map(patternText).join(' or ')}`)
      .join('; ');
    return {
      refused: `its client certificate (${describeNames(names)}) is not a configured replica's (${wanted})`,
    };
  }
  return { nodes: kept, matched };
}

function patternText(pattern: IdentityPattern): string {
  return `${pattern.kind}:${pattern.pattern}`;
}

/** The names of a certificate in one line, for a refusal and the log. */
export function describeNames(names: CertificateNames): string {
  const parts = [
    ...names.commonNames.map((name) => `CN ${name}`),
    ...names.dns.map((name) => `DNS ${name}`),
    ...names.ips.map((ip) => `IP ${ip}`),
    ...names.uris.map((uri) => `URI ${uri}`),
  ];
  return parts.length === 0 ? 'no names' : parts.join(', ');
}

/** Parses a `ROLE` reply into what the matcher needs. */
export function observeNode(
  node: ReplicaNode,
  role: readonly unknown[],
  followsProxy: (host: string, port: number) => boolean,
): NodeLinkObservation {
  const kind = role[0];
  // ROLE of a replica: [ 'slave', master host, master port, link state, offset ].
  const host = role[1];
  const port = role[2];
  const isReplica = kind === 'slave' && typeof host === 'string' && typeof port === 'number';
  return {
    node,
    role: kind === 'master' || kind === 'slave' ? kind : 'unknown',
    followsProxy: isReplica && followsProxy(host, port),
    linkState: isReplica && typeof role[3] === 'string' ? role[3] : undefined,
  };
}

export type MatchOutcome =
  | {
      node: ReplicaNode;
      proof: 'sole-handshake';
      /** Which identity pattern the client certificate matched, when it presented one. */
      certificate?: string;
    }
  | { node: undefined; why: string };

export interface ReplicaMatcherOptions {
  nodes: () => readonly ReplicaNode[];
  announce: () => { host: string; port: number };
  inspector: NodeInspector;
  /** The per-replica user bound to a node (--replica-credentials), if it has one. */
  boundUser?: (node: ReplicaNode) => string | undefined;
  /** Which client certificates are a node's (see certificateCandidates); none: no check. */
  identityOf?: (node: ReplicaNode) => readonly IdentityPattern[];
  /** How long a claim may stay undecided (`wait`) before it is refused. */
  verifyTimeoutMs?: number;
  /** How often an undecided claim asks the nodes again. */
  pollMs?: number;
  resolve?: (host: string) => Promise<string[]>;
}

export class ReplicaMatcher {
  private readonly verifyTimeoutMs: number;
  private readonly pollMs: number;
  private readonly resolve: (host: string) => Promise<string[]>;

  constructor(private readonly options: ReplicaMatcherOptions) {
    this.verifyTimeoutMs = options.verifyTimeoutMs ?? 5000;
    this.pollMs = options.pollMs ?? 100;
    this.resolve = options.resolve ?? resolveHost;
  }

  /**
   * Asks the candidate nodes (configured replicas with the claimed listening port) until the
   * claim is verified or refused, or the deadline passes. `rivals(node, addresses)` counts the
   * other open connections that could be that node's handshake (`addresses`: the node's own). `stillWanted` stops the wait early when
   * the connection is gone.
   */
  async match(
    identity: ConnectionIdentity,
    rivals: (node: ReplicaNode, addresses: ReadonlySet<string>) => number,
    stillWanted: () => boolean = () => true,
  ): Promise<MatchOutcome> {
    const certified = this.candidates(identity);
    if ('refused' in certified) return { node: undefined, why: certified.refused };
    const candidates = certified.nodes;
    const deadline = Date.now() + this.verifyTimeoutMs;
    for (;;) {
      const observations = await Promise.all(candidates.map((node) => this.observe(node)));
      // A connection accepted by the kernel reaches the listener on a later turn of the event
      // loop: let every connection the node may have opened before answering be counted.
      await new Promise((resolve) => setImmediate(resolve));
      const addresses = new Map(
        await Promise.all(
          candidates.map(
            async (node) => [node.id, new Set(await this.addressesOf(node.host))] as const,
          ),
        ),
      );
      const verdict = verifyClaim(identity, observations, (node) =>
        rivals(node, addresses.get(node.id) ?? new Set()),
      );
      if (verdict.kind === 'verified') {
        const certificate = certified.matched.get(verdict.node.id);
        return {
          node: verdict.node,
          proof: verdict.proof,
          ...(certificate === undefined ? {} : { certificate }),
        };
      }
      if (verdict.kind === 'refused') return { node: undefined, why: verdict.why };
      if (Date.now() + this.pollMs > deadline || !stillWanted()) {
        return { node: undefined, why: `unconfirmed: ${verdict.why}` };
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }

  /**
   * The configured replicas the claim can be, before any node is asked: by listening port,
   * per-replica user and client certificate (each certificate match with the pattern that
   * matched it).
   */
  candidates(
    identity: ConnectionIdentity,
  ): { nodes: ReplicaNode[]; matched: ReadonlyMap<string, string> } | { refused: string } {
    const possible = candidatesFor(
      identity,
      this.options.nodes(),
      this.options.boundUser ?? (() => undefined),
    );
    if ('refused' in possible) return possible;
    const identityOf = this.options.identityOf;
    return identityOf === undefined
      ? { nodes: possible.nodes, matched: new Map<string, string>() }
      : certificateCandidates(identity, possible.nodes, identityOf);
  }

  /** Whether a verified client certificate can be `node`'s (true without identity patterns). */
  certificateFits(node: ReplicaNode, names: CertificateNames): boolean {
    const identityOf = this.options.identityOf;
    return identityOf === undefined || matchIdentity(names, identityOf(node)).matched;
  }

  private async observe(node: ReplicaNode): Promise<NodeLinkObservation> {
    try {
      const role = await this.options.inspector.role(node);
      const announce = this.options.announce();
      const announced = await this.addressesOf(announce.host);
      const masterHost = typeof role[1] === 'string' ? await this.addressesOf(role[1]) : [];
      return observeNode(
        node,
        role,
        (_host, port) =>
          port === announce.port && masterHost.some((address) => announced.includes(address)),
      );
    } catch (error) {
      return {
        node,
        error: error instanceof Error ? error.message : String(error),
        role: 'unknown',
        followsProxy: false,
        linkState: undefined,
      };
    }
  }

  private async addressesOf(host: string): Promise<string[]> {
    const addresses = await this.resolve(host);
    return [normalizeIp(host), ...addresses.map(normalizeIp)];
  }
}
