// Who may open a connection on the RESP port at all (docs/design.md, "Limits and trust"): protected
// mode and the maximum number of clients, decided by pure functions of the peer's address and the
// counts, so that the decision is testable without a network; ProxyServer's accept path acts on it.
import { isIP } from 'node:net';
import { formatHostPort, type HostPort } from '../config/types.js';
import { normalizeIp, resolveHost } from '../addresses.js';

/** 127.0.0.0/8 and ::1 (also written as IPv4-mapped IPv6), as Redis's connIsLocal judges. */
export function isLoopbackAddress(address: string): boolean {
  const ip = normalizeIp(address);
  if (isIP(ip) === 4) return ip.startsWith('127.');
  if (isIP(ip) === 6) return new URL(`http://[${ip}]/`).hostname === '[::1]';
  return false;
}

/**
 * Whether a listener bound to `host` can only be reached from this machine. A host name other
 * than "localhost" may resolve to anything, so it counts as reachable from outside.
 */
export function isLoopbackOnly(host: string): boolean {
  return host.toLowerCase() === 'localhost' || isLoopbackAddress(host);
}

export interface ProtectedModeSettings {
  protectedMode: boolean;
  listenPassword: string;
  listen: HostPort;
}

/**
 * Protected mode is in force when it is on, no password is required, and the listener can be
 * reached from other machines: then anyone who can reach the port could use the proxy.
 */
export function protectedModeActive(settings: ProtectedModeSettings): boolean {
  return (
    settings.protectedMode &&
    settings.listenPassword === '' &&
    !isLoopbackOnly(settings.listen.host)
  );
}

/**
 * The refusal a non-loopback peer gets in protected mode. Like Redis's (clientAcceptHandler), it
 * says what is going on and every way to change it, for the operator who reads it in a replica's
 * log, far from rbuddy's configuration.
 */
function protectedModeMessage(listen: HostPort): string {
  return [
    `DENIED rbuddy is running in protected mode: its RESP listener ${formatHostPort(listen)} can be reached from other machines but asks for no password, so it serves only clients on its own loopback interface.`,
    'To serve this client, do one of the following and restart rbuddy:',
    '1) set a password with --listen-password (or RBUDDY_LISTEN_PASSWORD) and give it to the replicas as their masterauth (recommended);',
    "2) bind --listen to a loopback address, if every client runs on rbuddy's host;",
    '3) only if untrusted networks cannot reach this port, turn protected mode off with --protected-mode no (or RBUDDY_PROTECTED_MODE=no).',
    'One of these is enough.',
  ].join(' ');
}

/** The startup warning: what protected mode does here, or that it is off on an open listener. */
export function protectedModeWarning(settings: ProtectedModeSettings): string | undefined {
  if (settings.listenPassword !== '' || isLoopbackOnly(settings.listen.host)) return undefined;
  const where = formatHostPort(settings.listen);
  return settings.protectedMode
    ? `protected mode: no --listen-password is set and ${where} is not loopback-only, so only clients on this host are served; set --listen-password (and the replicas' masterauth), or --protected-mode no if untrusted networks cannot reach ${where}`
    : `protected mode is off and no --listen-password is set: anyone who can reach ${where} is served; set --listen-password (and the replicas' masterauth)`;
}

export const MAX_CLIENTS_MESSAGE = 'ERR max number of clients reached';

/**
 * Connections from a configured replica's address admitted past --max-clients, at most. Strangers
 * who fill the limit must not keep a replica from reconnecting, so its address has places of its
 * own; and when strangers that share its address (same host, same NAT) hold all of those too, the
 * oldest of them makes way. A replica's connection needs its place only for the few round trips
 * of its handshake: once it syncs it is a session, which never counts.
 */
export const REPLICA_RESERVE = 8;

export type Admission =
  | { admit: true; reserved: boolean; evictOldestReserved: boolean }
  | { admit: false; reason: 'protected-mode' | 'max-clients'; reply: string };

export interface AdmissionInput {
  peerAddress: string;
  /** Protected mode in force (see protectedModeActive). */
  protectedMode: boolean;
  listen: HostPort;
  maxClients: number;
  /** Connections not yet taken over by a replication session, by whether they are reserved. */
  clients: { ordinary: number; reserved: number };
  /** Whether the peer's address is one of the configured replicas'. */
  replicaPeer: boolean;
}

/**
 * The accept decision. Replication sessions never count: once a connection is a verified
 * replica's session it leaves the client count, so strangers can never starve a live one.
 */
export function admit(input: AdmissionInput): Admission {
  if (input.protectedMode && !isLoopbackAddress(input.peerAddress)) {
    return { admit: false, reason: 'protected-mode', reply: protectedModeMessage(input.listen) };
  }
  if (input.clients.ordinary < input.maxClients) {
    return { admit: true, reserved: false, evictOldestReserved: false };
  }
  if (input.replicaPeer) {
    return {
      admit: true,
      reserved: true,
      evictOldestReserved: input.clients.reserved >= REPLICA_RESERVE,
    };
  }
  return { admit: false, reason: 'max-clients', reply: MAX_CLIENTS_MESSAGE };
}

/** How long resolved replica addresses are trusted before they are looked up again. */
const REPLICA_ADDRESSES_TTL_MS = 30_000;

/**
 * The configured replicas' IP addresses, for the reserve above. The accept path cannot wait for
 * DNS, so it reads what the last lookup found and starts a new one when that is stale.
 */
export class ReplicaAddresses {
  private known = new Set<string>();
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly hosts: () => readonly string[],
    private readonly resolve: (host: string) => Promise<string[]> = resolveHost,
    private readonly now: () => number = Date.now,
  ) {}

  has(address: string): boolean {
    if (this.now() - this.refreshedAt >= REPLICA_ADDRESSES_TTL_MS) {
      // A failed lookup keeps what was known; the next connection tries again.
      this.refresh().catch(() => undefined);
    }
    return this.known.has(normalizeIp(address));
  }

  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const lists = await Promise.all(this.hosts().map((host) => this.resolve(host)));
        this.known = new Set(lists.flat().map(normalizeIp));
        this.refreshedAt = this.now();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
