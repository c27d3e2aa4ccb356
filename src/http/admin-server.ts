// The admin HTTP API on node:http. Routes are a table of method + path → handler; every reply is
// JSON except /metrics. Anyone who reaches the port may be an adversary (docs/design.md, "Limits
// and trust"): node:http's own limits bound the connections, the header size and the time to send a
// request (its answers: 431, 408, 400, or a closed connection past the cap), the handler refuses any
// body unread (413, then a lingering close: src/http/lingering-close.ts), and nothing a client sends
// can escape as an unhandled rejection. With a certificate (--http-tls-cert-file) the same server
// speaks HTTPS, with the same limits, and each reload of the certificate applies to the
// connections made after it.
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HostPort } from '../config/types.js';
import { WarnThrottle } from '../log-throttle.js';
import type { ReloadableTls } from '../tls/reloadable-tls.js';
import { lingerOnClose } from './lingering-close.js';
import { keepServerCurrent, tlsServerOptions } from '../tls/server-tls.js';
import { describeTlsFailure } from '../tls/tls-failure.js';

export interface HttpReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type RouteHandler = (request: IncomingMessage) => HttpReply | Promise<HttpReply>;

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  handler: RouteHandler;
}

/** Requests a connection may have unanswered at once (none of rbuddy's clients pipeline). */
export const MAX_PIPELINED = 16;

export interface AdminLimits {
  /** Connections held at once; node:http closes any further one at once. */
  maxConnections: number;
  /** Time to send a whole request (headers and body); then 408 and the connection closes. */
  requestTimeoutMs: number;
  /** All request headers together; more gets 431. */
  maxHeaderBytes: number;
}

const DEFAULT_ADMIN_LIMITS: AdminLimits = {
  maxConnections: 64,
  requestTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
};

export interface AdminServerOptions {
  listen: HostPort;
  routes: readonly Route[];
  logger: Logger;
  limits?: Partial<AdminLimits>;
  /** HTTPS with this certificate (--http-tls-cert-file); plain HTTP without it. */
  tls?: ReloadableTls;
}

/** The path of a request target (origin or absolute form); undefined when it does not parse. */
function targetPath(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

const INTERNAL_ERROR: HttpReply = { status: 500, body: { error: 'internal error' } };

interface Rendered {
  status: number;
  headers: Record<string, string>;
  payload: string;
}

function render(reply: HttpReply): Rendered {
  const isText = typeof reply.body === 'string';
  const payload = isText ? (reply.body as string) : `${JSON.stringify(reply.body, null, 2)}\n`;
  return {
    status: reply.status,
    headers: {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
      'cache-control': 'no-store',
      ...reply.headers,
    },
    payload,
  };
}

export class AdminServer {
  private readonly server: Server;
  private readonly routes: readonly Route[];
  private readonly log: Logger;
  private readonly listen: HostPort;
  private readonly limits: AdminLimits;
  private readonly warnings = new WarnThrottle({ intervalMs: 60_000 });
  private readonly https: boolean;
  private readonly detachTls: (() => void) | undefined;

  constructor(options: AdminServerOptions) {
    this.routes = options.routes;
    this.listen = options.listen;
    this.log = options.logger.child({ component: 'http' });
    this.limits = { ...DEFAULT_ADMIN_LIMITS, ...options.limits };
    const timeoutMs = this.limits.requestTimeoutMs;
    const httpOptions: ServerOptions = {
      maxHeaderSize: this.limits.maxHeaderBytes,
      requestTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      // node:http enforces both timeouts from a periodic sweep (30 s by default), which would
      // let a slow client stay far longer than the timeout.
      connectionsCheckingInterval: Math.min(1_000, timeoutMs),
      keepAliveTimeout: 5_000,
    };
    const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
      if (!this.admitRequest(request.socket, response)) return;
      this.handle(request, response).catch((error: unknown) => {
        // Only rendering or writing can get here; the connection is all we can give up.
        this.log.error({ err: error }, 'admin response failed');
        response.destroy();
      });
    };
    const { tls } = options;
    this.https = tls !== undefined;
    if (tls === undefined) {
      this.server = createServer(httpOptions, onRequest);
      this.server.on('connection', this.admitConnection);
    } else {
      const server = createHttpsServer(
        // No client certificates; a handshake may take no longer than a request.
        { ...tlsServerOptions(tls, 'no'), ...httpOptions, handshakeTimeout: timeoutMs },
        onRequest,
      );
      this.server = server;
      this.detachTls = keepServerCurrent(server, tls);
      // Counted once the handshake is done: request.socket is the TLS socket, not the TCP one
      // 'connection' gives. A handshake that never ends is bounded by handshakeTimeout.
      server.on('secureConnection', this.admitConnection);
      server.on('tlsClientError', (error: Error) => {
        this.warnings.warn(
          this.log,
          'handshake',
          { reason: describeTlsFailure(error, 'server').text },
          'admin HTTPS handshake failed',
        );
      });
    }
    // The cap is ours, not server.maxConnections: that one drops the newest connection, so idle
    // connections held open by anyone would keep every probe out. Past the cap the oldest
    // connection with no request in flight makes room instead: a client that sends its
    // request gets an answer, and holding slots open costs a stranger a race it keeps losing.
  }

  /**
   * Counts a request in flight on its connection; past MAX_PIPELINED unanswered ones the
   * connection is closed and the request not handled. node:http parses every request a read
   * holds and hands each over at once, answers queued in order: a stranger pipelining 20,000
   * `GET /metrics` without reading made rbuddy render them all, blocked its event loop for
   * seconds, grew it to 1.9 GB and cost the active its replication session (reviewer R11d, D1).
   */
  private admitRequest(socket: Socket, response: ServerResponse): boolean {
    const count = (this.inFlight.get(socket) ?? 0) + 1;
    if (socket.destroyed) return false;
    if (count > MAX_PIPELINED) {
      this.warnings.warn(
        this.log,
        'pipelined',
        { maxPipelined: MAX_PIPELINED },
        'admin connection closed: more requests pipelined than answered',
      );
      socket.destroy();
      return false;
    }
    this.inFlight.set(socket, count);
    response.once('close', () => {
      const left = (this.inFlight.get(socket) ?? 1) - 1;
      // A closed socket keeps no entry: it would hold the socket past its life.
      if (left > 0 && this.connections.has(socket)) this.inFlight.set(socket, left);
      else this.inFlight.delete(socket);
    });
    return true;
  }

  /** Open connections, oldest first (a Set keeps insertion order). */
  private readonly connections = new Set<Socket>();
  private readonly inFlight = new Map<Socket, number>();

  private readonly admitConnection = (socket: Socket): void => {
    this.connections.add(socket);
    socket.once('close', () => {
      this.connections.delete(socket);
      this.inFlight.delete(socket);
    });
    if (this.connections.size <= this.limits.maxConnections) return;
    for (const candidate of this.connections) {
      if (candidate === socket || (this.inFlight.get(candidate) ?? 0) > 0) continue;
      this.warnings.warn(
        this.log,
        'evict',
        { maxConnections: this.limits.maxConnections },
        'admin connections at the cap: the oldest idle one closed to make room',
      );
      this.connections.delete(candidate);
      candidate.destroy();
      return;
    }
    // Every slot is busy answering: the newcomer waits its turn elsewhere.
    this.connections.delete(socket);
    socket.destroy();
  };

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listen.port, this.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Once listening, an 'error' is a failed accept (EMFILE…): without a listener it would
    // end the process.
    this.server.on('error', (error) => {
      this.warnings.warn(this.log, 'listener', { err: error }, 'admin HTTP listener error');
    });
    this.log.info({ listen: this.address(), https: this.https }, 'admin HTTP listener ready');
  }

  address(): HostPort {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') return this.listen;
    return { host: bound.address, port: bound.port };
  }

  async close(): Promise<void> {
    this.detachTls?.();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let reply: HttpReply | undefined;
    try {
      reply = await this.answer(request);
    } catch (error) {
      this.log.error({ err: error, path: targetPath(request.url) }, 'admin request failed');
      reply = INTERNAL_ERROR;
    }
    if (reply === undefined) return;
    let rendered: Rendered;
    try {
      rendered = render(reply);
    } catch (error) {
      this.log.error({ err: error, path: targetPath(request.url) }, 'admin reply not serialisable');
      rendered = render(INTERNAL_ERROR);
    }
    // A reply that closes the connection may leave a body unread behind it (413, 400): the
    // close lingers, so the client reads the reply rather than a reset.
    if (rendered.headers.connection === 'close') lingerOnClose(request.socket);
    response.writeHead(rendered.status, rendered.headers);
    response.end(rendered.payload);
  }

  /** The reply to one request; undefined when the client left before it was read. */
  private async answer(request: IncomingMessage): Promise<HttpReply | undefined> {
    const path = targetPath(request.url);
    if (path === undefined) {
      return {
        status: 400,
        body: { error: 'malformed request target' },
        headers: { connection: 'close' },
      };
    }
    // No route takes a body. One announced is refused at once, unread: reading it first let a
    // stranger hold every connection slot by sending a small body a byte at a time (each request
    // in flight until its timeout), and /active and /healthz were answered to nobody.
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > 0 || request.headers['transfer-encoding'] !== undefined) {
      return {
        status: 413,
        body: { error: 'no admin route takes a request body' },
        // The body is not read: the connection cannot carry another request.
        headers: { connection: 'close' },
      };
    }
    const forPath = this.routes.filter((route) => route.path === path);
    if (forPath.length === 0) return { status: 404, body: { error: 'not found' } };
    const route = forPath.find((candidate) => candidate.method === request.method);
    if (route === undefined) {
      return {
        status: 405,
        body: { error: 'method not allowed' },
        headers: { allow: forPath.map((candidate) => candidate.method).join(', ') },
      };
    }
    return route.handler(request);
  }
}
