// The admin API's routes (SPEC §7). POSTs need `Authorization: Bearer <--http-token>` and are
// refused outright when no token is configured; GETs need it too with --http-auth-reads, except
// the liveness and readiness probes.
import type { IncomingMessage } from 'node:http';
import type { OperatorRequest } from '../standby/decide.js';
import type { FailoverEngine } from '../standby/engine.js';
import type { ReplicaNode } from '../proxy/session-types.js';
import { sameSecret } from '../secrets.js';
import type { HttpReply, Route, RouteHandler } from './admin-server.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';

export interface RoutesOptions {
  token: string;
  authReads: boolean;
  status: () => unknown;
  engine: FailoverEngine;
  nodes: readonly ReplicaNode[];
  /** The Prometheus text exposition (src/http/metrics.ts); GET /metrics answers 404 without it. */
  metrics?: () => Promise<string>;
}

export function adminRoutes(options: RoutesOptions): Route[] {
  const { engine } = options;
  const authorized = (request: IncomingMessage): HttpReply | undefined => {
    if (options.token === '') {
      return {
        status: 403,
        body: { error: 'refused: no --http-token is configured, so the admin API is read-only' },
      };
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match?.[1] === undefined || !sameSecret(match[1].trim(), options.token)) {
      return {
        status: 401,
        body: { error: 'missing or wrong bearer token' },
        headers: { 'www-authenticate': 'Bearer' },
      };
    }
    return undefined;
  };
  const read =
    (handler: RouteHandler): RouteHandler =>
    (request) =>
      (options.authReads ? authorized(request) : undefined) ?? handler(request);
  const post =
    (handler: RouteHandler): RouteHandler =>
    (request) =>
      authorized(request) ?? handler(request);
  const operator = (request: OperatorRequest): RouteHandler =>
    post(() => {
      const answer = engine.request(request);
      return answer.accepted
        ? { status: 202, body: { accepted: true, state: engine.state } }
        : { status: answer.status, body: { accepted: false, error: answer.reason } };
    });
  const nodeUrl =
    (role: 'active' | 'standby'): RouteHandler =>
    () => {
      const id = engine.roles()?.[role];
      const node = options.nodes.find((candidate) => candidate.id === id);
      if (node === undefined) return { status: 503, body: 'unknown\n' };
      const host = node.host.includes(':') ? `[${node.host}]` : node.host;
      return { status: 200, body: `redis://${host}:${node.port}/\n` };
    };

  return [
    { method: 'GET', path: '/healthz', handler: () => ({ status: 200, body: { status: 'ok' } }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: () =>
        engine.ready()
          ? { status: 200, body: { ready: true, state: engine.state } }
          : {
              status: 503,
              body: { ready: false, state: engine.state, shuttingDown: engine.stopping },
            },
    },
    {
      method: 'GET',
      path: '/v1/status',
      handler: read(() => ({ status: 200, body: options.status() })),
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: read(async () =>
        options.metrics === undefined
          ? { status: 404, body: 'metrics are not enabled\n' }
          : {
              status: 200,
              body: await options.metrics(),
              headers: { 'content-type': METRICS_CONTENT_TYPE },
            },
      ),
    },
    { method: 'GET', path: '/active', handler: read(nodeUrl('active')) },
    { method: 'GET', path: '/standby', handler: read(nodeUrl('standby')) },
    { method: 'POST', path: '/v1/failover', handler: operator('failover') },
    { method: 'POST', path: '/v1/failover/confirm', handler: operator('confirm') },
    { method: 'POST', path: '/v1/failover/abort', handler: operator('abort') },
  ];
}
