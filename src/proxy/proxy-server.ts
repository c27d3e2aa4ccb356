// The RESP listener. Accepts connections, lets each one handshake (ClientConnection), matches
// sync requests to the configured replicas (ReplicaMatcher), and runs one ReplicaSession per
// replica, each with its own connection to the master. Only this module creates sockets.
import { EventEmitter } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatHostPort, type HostPort } from '../config-types.js';
import { SessionReplacedError, UpstreamConnectError, UpstreamTimeoutError } from '../errors.js';
import { ClientConnection, type CommandHandler } from './client-connection.js';
import { ReplicaMatcher } from './replica-matcher.js';
import { ReplicaSession } from './replica-session.js';
import type { PsyncGate, ReplicaHello, ReplicaNode, SessionEvent } from './session-types.js';

export interface ProxyServerOptions {
  listen: HostPort;
  listenPassword: string;
  /** The master to connect sessions to (a function: the failover engine may change it). */
  master: () => HostPort;
  masterAuth: { user: string; password: string } | undefined;
  replTimeoutMs: number;
  connectTimeoutMs: number;
  matcher: ReplicaMatcher;
  gate?: PsyncGate;
  commands?: ReadonlyMap<string, CommandHandler>;
  logger: Logger;
}

export interface ProxyServerEvents {
  /** A configured replica's session started (attached). */
  session: [ReplicaSession];
  'session-event': [ReplicaSession, SessionEvent];
}

export class ProxyServer extends EventEmitter<ProxyServerEvents> {
  private readonly options: ProxyServerOptions;
  private readonly log: Logger;
  private readonly server: Server;
  private readonly clients = new Set<ClientConnection>();
  private readonly byNode = new Map<string, ReplicaSession>();
  private nextId = 1;
  private closing = false;

  constructor(options: ProxyServerOptions) {
    super();
    this.options = options;
    this.log = options.logger.child({ component: 'proxy' });
    this.server = createServer({ noDelay: true, keepAlive: true }, this.onConnection);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (error) => this.log.error({ err: error }, 'listener error'));
    this.log.info({ listen: this.address() }, 'RESP listener ready');
  }

  /** The bound address (the real port when configured with port 0). */
  address(): HostPort {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') return this.options.listen;
    return { host: bound.address, port: bound.port };
  }

  sessions(): ReplicaSession[] {
    return [...this.byNode.values()];
  }

  sessionFor(nodeId: string): ReplicaSession | undefined {
    return this.byNode.get(nodeId);
  }

  /** Stops accepting, ends every session and connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.byNode.values()) session.close('shutdown');
    for (const client of this.clients) client.socket.destroy();
    await closed;
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const connection = new ClientConnection({
      socket,
      id: `c${this.nextId++}`,
      listenPassword: this.options.listenPassword,
      logger: this.log,
      commands: this.options.commands ?? new Map(),
      onSyncRequest: (conn, hello) => this.onSyncRequest(conn, hello),
    });
    this.clients.add(connection);
    socket.once('close', () => this.clients.delete(connection));
  };

  private async onSyncRequest(
    connection: ClientConnection,
    hello: ReplicaHello,
  ): Promise<string | undefined> {
    const outcome = await this.options.matcher.match({
      peerAddress: hello.peer.address,
      peerPort: hello.peer.port,
      listeningPort: hello.listeningPort,
      announcedIp: hello.announcedIp,
      request: hello.request,
    });
    if (outcome.node === undefined) return outcome.why;
    if (this.closing) return 'shutting down';
    this.clients.delete(connection);
    this.startSession(outcome.node, hello, connection.socket);
    return undefined;
  }

  private startSession(node: ReplicaNode, hello: ReplicaHello, socket: Socket): void {
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

  private connectUpstream(): Promise<Duplex> {
    const master = this.options.master();
    const timeoutMs = this.options.connectTimeoutMs;
    return new Promise<Duplex>((resolve, reject) => {
      const socket = connect({
        host: master.host,
        port: master.port,
        noDelay: true,
        keepAlive: true,
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new UpstreamTimeoutError(
            `connecting to the master ${formatHostPort(master)} timed out after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new UpstreamConnectError(
            `cannot connect to the master ${formatHostPort(master)}: ${error.message}`,
            { cause: error },
          ),
        );
      });
    });
  }
}

function connectionPeer(hello: ReplicaHello): string {
  return `${hello.peer.address}:${hello.peer.port}`;
}
