// The RESP listener. Accepts connections, lets each one handshake (ClientConnection), matches
// sync requests to the configured replicas (ReplicaMatcher), and runs one ReplicaSession per
// replica, each with its own connection to the master. Only this module creates sockets.
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ReloadableTls } from '../tls/reloadable-tls.js';
import type { TlsAuthClients } from '../tls/server-tls.js';
import { encodeError } from '../resp/encode.js';
import type { HostPort } from '../config/types.js';
import { SessionReplacedError } from '../errors.js';
import {
  admit,
  MAX_CLIENTS_MESSAGE,
  protectedModeActive,
  protectedModeWarning,
} from './admission.js';
import { AuthThrottle } from './auth-throttle.js';
import { CLIENTS_OUTPUT_BUDGET, InputBudget, type InputBudgetStatus } from './input-budget.js';
import {
  ClientConnection,
  type ClientLimitReason,
  type CommandHandler,
} from './client-connection.js';
import type { RivalRules } from './replica-claim.js';
import { WarnThrottle } from '../log-throttle.js';
import { endLingering } from '../lingering-close.js';
import { normalizeIp } from '../addresses.js';
import { ReplicaMatcher } from './replica-matcher.js';
import { NOMASTERLINK, ReplicaSession } from './replica-session.js';
import type {
  PresentedCertificate,
  SyncGate,
  ReplicaHello,
  SessionEvent,
  UpstreamLink,
} from './session-types.js';
import { createTlsListener, type TlsListener } from './tls-listener.js';
import { boundAddress, listenOn } from './listen.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { connectUpstreamTls, type MasterTls } from './upstream-tls.js';
import { connectUpstreamPlain } from './upstream-plain.js';

/** The TLS RESP listener (--tls-listen) and its material (the `listener` TLS hop). */
export interface ProxyTlsOptions {
  listen: HostPort;
  material: ReloadableTls;
  authClients: TlsAuthClients;
}

export interface ProxyServerOptions {
  /** The plain RESP listener; null with --listen none (then `tls` is the only one). */
  listen: HostPort | null;
  tls?: ProxyTlsOptions | undefined;
  listenPassword: string;
  /** The per-replica user bound to a node (--replica-credentials), if it has one. */
  boundUser?: (node: ReplicaNode) => string | undefined;
  /** Per-replica users on the listener (user → password), --replica-credentials. */
  replicaUsers?: ReadonlyMap<string, string>;
  /** The master to connect sessions to (a function: the failover engine may change it). */
  master: () => HostPort;
  masterAuth: { user: string; password: string } | undefined;
  /** TLS to the master (--master-tls) for every session; plain TCP without it. */
  masterTls?: MasterTls;
  replTimeoutMs: number;
  connectTimeoutMs: number;
  matcher: ReplicaMatcher;
  gate?: SyncGate;
  /**
   * Whether a configured replica's sync is held: answered -NOMASTERLINK ("retry later", the
   * replica keeps its state and retries about every second) instead of being relayed. The
   * failover engine holds the idle standby this way.
   */
  holdSync?: (node: ReplicaNode) => boolean;
  commands?: ReadonlyMap<string, CommandHandler>;
  logger: Logger;
  /** Redis's protected-mode: see admission.ts. Default on. */
  protectedMode?: boolean;
  /** Connections not (yet) taken over by a replication session, at most. Default 1000. */
  maxClients?: number;
  /** Deadline to authenticate, or without a password to send a valid command. Default 10 s. */
  authTimeoutMs?: number;
  /** Whether an IP is a configured replica's: those may use the reserve past maxClients. */
  isReplicaAddress?: (ip: string) => boolean;
  authThrottle?: AuthThrottle;
}

/** Connections on the RESP port that are not replication sessions (status, metrics, tests). */
export interface ClientsStatus {
  connected: number;
  /** Of those, admitted past --max-clients from a configured replica's address. */
  reserved: number;
  /** Not read until they read their replies. */
  paused: number;
  /** Bytes rbuddy holds for them: unsent replies plus incomplete commands. */
  bufferedBytes: number;
  /** Their incomplete commands against the budget all of them share (input-budget.ts). */
  input: InputBudgetStatus;
  /** Their replies not yet taken, against the output budget they share. */
  output: InputBudgetStatus;
  refused: { 'protected-mode': number; 'max-clients': number };
  closed: Record<ClientLimitReason, number>;
}

const DEFAULT_MAX_CLIENTS = 1000;
const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

export interface ProxyServerEvents {
  /** A configured replica's session started (attached). */
  session: [ReplicaSession];
  'session-event': [ReplicaSession, SessionEvent];
}

export class ProxyServer extends EventEmitter<ProxyServerEvents> {
  private readonly options: ProxyServerOptions;
  private readonly log: Logger;
  private readonly server: Server | undefined;
  private readonly tlsListener: TlsListener | undefined;
  private readonly clients = new Set<ClientConnection>();
  /** The subset of `clients` admitted from the replica reserve. */
  private readonly reservedClients = new Set<ClientConnection>();
  private readonly authThrottle: AuthThrottle;
  /** What strangers can repeat at will is logged once per kind every 10 s (see WarnThrottle). */
  private readonly clientWarnings = new WarnThrottle({ intervalMs: 10_000 });
  private readonly refused: ClientsStatus['refused'] = { 'protected-mode': 0, 'max-clients': 0 };
  private readonly closedForLimit: ClientsStatus['closed'] = {
    'output-limit': 0,
    'query-limit': 0,
    'input-budget': 0,
    'output-budget': 0,
    'auth-timeout': 0,
    'auth-failures': 0,
    'unauthenticated-commands': 0,
  };
  /** Shared by the plain and the TLS listener's connections. */
  private readonly inputBudget = new InputBudget<ClientConnection>();
  private readonly outputBudget = new InputBudget<ClientConnection>(CLIENTS_OUTPUT_BUDGET);
  private readonly byNode = new Map<string, ReplicaSession>();
  private nextId = 1;
  private closing = false;

  constructor(options: ProxyServerOptions) {
    super();
    this.options = options;
    this.log = options.logger.child({ component: 'proxy' });
    this.authThrottle = options.authThrottle ?? new AuthThrottle();
    this.server =
      options.listen === null
        ? undefined
        : createServer({ noDelay: true, keepAlive: true }, (socket) =>
            this.onConnection(socket, 'plain', undefined),
          );
    const tls = options.tls;
    this.tlsListener =
      tls === undefined
        ? undefined
        : createTlsListener({
            material: tls.material,
            authClients: tls.authClients,
            handshakeTimeoutMs: options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
            maxHandshakes: options.maxClients ?? DEFAULT_MAX_CLIENTS,
            logger: this.log.child({ listener: 'tls' }),
            warnings: this.clientWarnings,
            onClient: (socket, certificate) => this.onConnection(socket, 'tls', certificate),
          });
  }

  async start(): Promise<void> {
    const listeners: Array<readonly [Server, HostPort, 'plain' | 'tls']> = [];
    if (this.server !== undefined && this.options.listen !== null) {
      listeners.push([this.server, this.options.listen, 'plain']);
    }
    if (this.tlsListener !== undefined && this.options.tls !== undefined) {
      listeners.push([this.tlsListener.server, this.options.tls.listen, 'tls']);
    }
    for (const [server, listen, kind] of listeners) {
      await listenOn(server, listen);
      server.on('error', (error) =>
        this.log.error({ err: error, listener: kind }, 'listener error'),
      );
      const bound = boundAddress(server, listen);
      this.log.info({ listen: bound, tls: kind === 'tls' }, 'RESP listener ready');
      const warning = protectedModeWarning(this.protectedModeSettings(kind));
      if (warning !== undefined) this.log.warn({ listen: bound }, warning);
    }
  }

  /**
   * The plain listener's bound address (the real port when configured with port 0), or the TLS
   * listener's when there is no plain one (--listen none).
   */
  address(): HostPort {
    return this.plainAddress() ?? this.tlsAddress() ?? { host: '', port: 0 };
  }

  /** The plain listener's bound address; undefined with --listen none. */
  plainAddress(): HostPort | undefined {
    if (this.server === undefined || this.options.listen === null) return undefined;
    return boundAddress(this.server, this.options.listen);
  }

  /** The TLS listener's bound address; undefined without --tls-listen. */
  tlsAddress(): HostPort | undefined {
    if (this.tlsListener === undefined || this.options.tls === undefined) return undefined;
    return boundAddress(this.tlsListener.server, this.options.tls.listen);
  }

  sessions(): ReplicaSession[] {
    return [...this.byNode.values()];
  }

  sessionFor(nodeId: string): ReplicaSession | undefined {
    return this.byNode.get(nodeId);
  }

  clientsStatus(): ClientsStatus {
    this.pruneReserved();
    let paused = 0;
    let bufferedBytes = 0;
    for (const client of this.clients) {
      const stats = client.stats();
      if (stats.paused) paused += 1;
      bufferedBytes += stats.outputBytes + stats.inputBytes;
    }
    return {
      connected: this.clients.size,
      reserved: this.reservedClients.size,
      paused,
      bufferedBytes,
      input: this.inputBudget.status(),
      output: this.outputBudget.status(),
      refused: { ...this.refused },
      closed: { ...this.closedForLimit },
    };
  }

  /** Stops accepting, ends every session and connection. */
  async close(): Promise<void> {
    this.closing = true;
    this.tlsListener?.detach();
    const servers = [this.server, this.tlsListener?.server].filter((s) => s !== undefined);
    const closed = Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
    for (const session of this.byNode.values()) session.close('shutdown');
    for (const client of this.clients) client.socket.destroy();
    this.tlsListener?.handshakes.closeAll();
    await closed;
  }

  /**
   * Protected mode, per listener (docs/design.md, "Limits and trust"). A TLS listener with
   * --tls-auth-clients yes has authenticated every client by its certificate before it says a
   * word, as a password would: protected mode does not apply to it. With `no` or `optional` a
   * client may be anyone, and it applies as on the plain listener.
   */
  private protectedModeSettings(kind: 'plain' | 'tls') {
    const authenticated = kind === 'tls' && this.options.tls?.authClients === 'yes';
    return {
      protectedMode: (this.options.protectedMode ?? true) && !authenticated,
      listenPassword: this.options.listenPassword,
      listen: (kind === 'tls' ? this.tlsAddress() : this.plainAddress()) ?? this.address(),
    };
  }

  private onConnection(
    socket: Socket | TLSSocket,
    kind: 'plain' | 'tls',
    certificate: PresentedCertificate | undefined,
  ): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const peerAddress = socket.remoteAddress ?? '';
    this.pruneReserved();
    const decision = admit({
      peerAddress,
      protectedMode: protectedModeActive(this.protectedModeSettings(kind)),
      listen: this.protectedModeSettings(kind).listen,
      maxClients: this.options.maxClients ?? DEFAULT_MAX_CLIENTS,
      clients: {
        ordinary: this.clients.size - this.reservedClients.size,
        reserved: this.reservedClients.size,
      },
      replicaPeer: this.options.isReplicaAddress?.(peerAddress) ?? false,
    });
    if (!decision.admit) {
      this.refused[decision.reason] += 1;
      this.log.warn(
        { peer: `${peerAddress}:${socket.remotePort ?? 0}`, reason: decision.reason },
        'connection refused',
      );
      endLingering(socket, encodeError(decision.reply));
      return;
    }
    if (decision.evictOldestReserved) this.evictOldestReserved();
    const connection = new ClientConnection({
      socket,
      id: `c${this.nextId++}`,
      listenPassword: this.options.listenPassword,
      ...(this.options.replicaUsers === undefined
        ? {}
        : { replicaUsers: this.options.replicaUsers }),
      logger: this.log,
      commands: this.options.commands ?? new Map(),
      onSyncRequest: (conn, hello) => this.onSyncRequest(conn, hello),
      authTimeoutMs: this.options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
      authThrottle: this.authThrottle,
      warnings: this.clientWarnings,
      inputBudget: this.inputBudget,
      outputBudget: this.outputBudget,
      onLimit: (reason) => {
        this.closedForLimit[reason] += 1;
      },
      certificate,
    });
    this.clients.add(connection);
    if (decision.reserved) this.reservedClients.add(connection);
    socket.once('close', () => {
      this.clients.delete(connection);
      this.reservedClients.delete(connection);
    });
  }

  /** A connection that became a replication session left `clients`: it holds no place. */
  private pruneReserved(): void {
    for (const client of this.reservedClients) {
      if (!this.clients.has(client)) this.reservedClients.delete(client);
    }
  }

  private evictOldestReserved(): void {
    const oldest = this.reservedClients.values().next();
    if (oldest.done === true) return;
    this.reservedClients.delete(oldest.value);
    this.clients.delete(oldest.value);
    this.refused['max-clients'] += 1;
    this.log.warn(
      { connection: oldest.value.id, peer: oldest.value.peer },
      "max clients reached: closing the oldest connection from a replica's address to let a new one in",
    );
    oldest.value.close(MAX_CLIENTS_MESSAGE);
  }

  private async onSyncRequest(
    connection: ClientConnection,
    hello: ReplicaHello,
  ): Promise<string | undefined> {
    const identity = {
      peerAddress: hello.peer.address,
      peerPort: hello.peer.port,
      listeningPort: hello.listeningPort,
      announcedIp: hello.announcedIp,
      request: hello.request,
      replicaUser: hello.replicaUser,
      certificate: hello.certificate?.names,
    };
    // A claim that can only be held replicas is held before any node is asked: the answer gives
    // nothing away (it is what a replica of a replica without a link gets), so it needs no proof
    // of identity, and the held standby's retry every second costs no ROLE round trip.
    const candidates = this.options.matcher.candidates(identity);
    if (!('refused' in candidates) && this.allHeld(candidates.nodes)) {
      this.holdConnection(connection, candidates.nodes, hello);
      return undefined;
    }
    const outcome = await this.options.matcher.match(
      identity,
      (node, addresses) => this.rivals(connection, node, addresses),
      () => !connection.socket.destroyed && !this.closing,
    );
    if (outcome.node === undefined) return outcome.why;
    if (this.closing || connection.socket.destroyed) return 'shutting down';
    if (this.allHeld([outcome.node])) {
      this.holdConnection(connection, [outcome.node], hello);
      return undefined;
    }
    this.clients.delete(connection);
    this.log.info(
      {
        replica: outcome.node.id,
        proof: outcome.proof,
        peer: connectionPeer(hello),
        ...(outcome.certificate === undefined ? {} : { certificate: outcome.certificate }),
      },
      'replica verified by the node itself',
    );
    this.startSession(outcome.node, hello, connection.socket);
    return undefined;
  }

  private allHeld(nodes: readonly ReplicaNode[]): boolean {
    const { holdSync } = this.options;
    return holdSync !== undefined && nodes.length > 0 && nodes.every((node) => holdSync(node));
  }

  /** Answers a held replica's sync "retry later" (debug only: it comes every second). */
  private holdConnection(
    connection: ClientConnection,
    nodes: readonly ReplicaNode[],
    hello: ReplicaHello,
  ): void {
    this.log.debug(
      { replicas: nodes.map((node) => node.id), peer: connectionPeer(hello) },
      'sync held: answered -NOMASTERLINK',
    );
    endLingering(connection.socket, encodeError(NOMASTERLINK));
  }

  /**
   * What else could explain `node` being in a replication handshake with us: other open
   * connections that could be its handshake (not yet a session, not a client that used the
   * discovery commands, not claiming another port), and a live session of that node (its PSYNC
   * may be waiting on the master right now; or the node dropped it and we have not noticed yet).
   */
  private rivals(
    self: ClientConnection,
    node: ReplicaNode,
    nodeAddresses: ReadonlySet<string>,
  ): number {
    const selfAddress = normalizeIp(self.socket.remoteAddress ?? '');
    const rules: RivalRules = {
      boundUser: this.options.boundUser?.(node),
      // Behind NAT the replica's address is not its configured one: then any address counts.
      fromAddresses: nodeAddresses.has(selfAddress) ? nodeAddresses : undefined,
      certificateMatches: (names) => this.options.matcher.certificateFits(node, names),
    };
    let count = this.byNode.get(node.id)?.isClosed === false ? 1 : 0;
    for (const client of this.clients) {
      if (client !== self && client.couldBeReplicaOn(node.port, rules)) count += 1;
    }
    return count;
  }

  private startSession(node: ReplicaNode, hello: ReplicaHello, socket: Duplex): void {
    const previous = this.byNode.get(node.id);
    // A replica has one link to its master: a new PSYNC means the old link is dead to it.
    previous?.close(
      'replaced',
      new SessionReplacedError(`replaced by a new connection from ${node.id}`),
    );
    const session = new ReplicaSession({
      id: `s${this.nextId++}`,
      node,
      hello,
      downstream: socket,
      connectUpstream: () => this.connectUpstream(),
      upstreamAuth: this.options.masterAuth,
      replTimeoutMs: this.options.replTimeoutMs,
      gate: this.options.gate,
      logger: this.log,
    });
    this.byNode.set(node.id, session);
    session.on('event', (event) => {
      if (event.type === 'closed' && this.byNode.get(node.id) === session) {
        this.byNode.delete(node.id);
      }
      this.emit('session-event', session, event);
    });
    this.log.info(
      {
        session: session.id,
        replica: node.id,
        request: hello.request,
        peer: connectionPeer(hello),
      },
      'replica attached',
    );
    this.emit('session', session);
    void session.start();
  }

  /** Connects a session to the master, over TLS with --master-tls. */
  private connectUpstream(): Promise<UpstreamLink> {
    const master = this.options.master();
    const timeoutMs = this.options.connectTimeoutMs;
    const { masterTls } = this.options;
    if (masterTls !== undefined) return connectUpstreamTls(master, masterTls, timeoutMs);
    return connectUpstreamPlain(master, timeoutMs);
  }
}

function connectionPeer(hello: ReplicaHello): string {
  return `${hello.peer.address}:${hello.peer.port}`;
}
