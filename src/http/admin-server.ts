// The admin HTTP API (SPEC §7) on node:http. Routes are a table of method + path → handler;
// every reply is JSON except /metrics. Requests and headers have timeouts so a slow client
// cannot hold the server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HostPort } from '../config-types.js';

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

export interface AdminServerOptions {
  listen: HostPort;
  routes: readonly Route[];
  logger: Logger;
}

export class AdminServer {
  private readonly server: Server;
  private readonly routes: readonly Route[];
  private readonly log: Logger;
  private readonly listen: HostPort;

  constructor(options: AdminServerOptions) {
    this.routes = options.routes;
    this.listen = options.listen;
    this.log = options.logger.child({ component: 'http' });
    this.server = createServer((request, response) => {
      void this.dispatch(request, response);
    });
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    this.server.keepAliveTimeout = 5_000;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listen.port, this.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.log.info({ listen: this.address() }, 'admin HTTP listener ready');
  }

  address(): HostPort {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') return this.listen;
    return { host: bound.address, port: bound.port };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const forPath = this.routes.filter((route) => route.path === path);
    let reply: HttpReply;
    if (forPath.length === 0) {
      reply = { status: 404, body: { error: 'not found' } };
    } else {
      const route = forPath.find((candidate) => candidate.method === request.method);
      if (route === undefined) {
        reply = {
          status: 405,
          body: { error: 'method not allowed' },
          headers: { allow: forPath.map((candidate) => candidate.method).join(', ') },
        };
      } else {
        try {
          reply = await route.handler(request);
        } catch (error) {
          this.log.error({ err: error, path }, 'admin request failed');
          reply = { status: 500, body: { error: 'internal error' } };
        }
      }
    }
    const isText = typeof reply.body === 'string';
    const payload = isText ? (reply.body as string) : `${JSON.stringify(reply.body, null, 2)}\n`;
    response.writeHead(reply.status, {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
      'cache-control': 'no-store',
      ...reply.headers,
    });
    response.end(payload);
  }
}
