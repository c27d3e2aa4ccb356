// The admin API's routes. POSTs need `Authorization: Bearer <--http-token>` and are
// refused outright when no token is configured; GETs need it too with --http-auth-reads, except
// the liveness and readiness probes. Without --http-auth-reads those GETs check the Host header
// instead (src/http/host-check.ts: DNS rebinding).
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { WarnThrottle } from '../log-throttle.js';
import type { OperatorRequest } from '../standby/decide.js';
import type { FailoverEngine } from '../standby/engine.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { sameSecret } from '../secrets.js';
import type { HttpReply, Route, RouteHandler } from './admin-server.js';
import { hostCheck } from './host-check.js';
import { METRICS_CONTENT_TYPE } from '../metrics/metrics.js';

/** What the routes use of the failover engine: its requests, roles and readiness. */
type EngineControls = Pick<FailoverEngine, 'request' | 'roles' | 'notReady' | 'state' | 'stopping'>;

export interface RoutesOptions {
  token: string;
  authReads: boolean;
  status: () => unknown;
  engine: EngineControls;
  nodes: readonly ReplicaNode[];
  /**
   * Why GET /active and /standby name no node, when there is more to say than "unknown": with
   * --etcd, this instance's view of the group may be stale (src/ha/view-freshness.ts).
   */
  rolesUnknown?: () => string | undefined;
  /** The --http host: a Host header naming it is this listener. */
  listenHost?: string;
  /** --http-allowed-hosts: more names the unauthenticated reads answer to. */
  allowedHosts?: readonly string[];
  /** Where refusals for a Host header are logged (rate-limited: anyone can send them). */
  logger?: Logger;
  /** The Prometheus text exposition (src/metrics/metrics.ts); GET /metrics answers 404 without it. */
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
  const hostAllowed = hostCheck({
    listenHost: options.listenHost ?? '',
    allowedHosts: options.allowedHosts ?? [],
  });
  const log = options.logger?.child({ component: 'http' });
  const warnings = new WarnThrottle({ intervalMs: 60_000 });
  const knownHost = (request: IncomingMessage): HttpReply | undefined => {
    const host = request.headers.host;
    if (hostAllowed(host, () => request.socket.localAddress)) return undefined;
    if (log !== undefined) {
      warnings.warn(
        log,
        'misdirected',
        { host: (host ?? '').slice(0, 100), path: request.url?.slice(0, 100) },
        'admin API read refused: unknown Host header (--http-allowed-hosts)',
      );
    }
    return {
      status: 421,
      body: {
        error:
          'refused: the Host header names neither this listener nor a loopback address (a guard against DNS rebinding while reads need no token); list that name in --http-allowed-hosts, or require the token with --http-auth-reads',
      },
    };
  };
  const read =
    (handler: RouteHandler): RouteHandler =>
    (request) =>
      (options.authReads ? authorized(request) : knownHost(request)) ?? handler(request);
  const post =
    (handler: RouteHandler): RouteHandler =>
    (request) =>
      authorized(request) ?? handler(request);
  // Accepted: carried out by the engine's next round (202). Refused: the request conflicts with
  // the engine's state, which the reason names (409).
  const operator = (request: OperatorRequest): RouteHandler =>
    post(() => {
      const answer = engine.request(request);
      return answer.accepted
        ? { status: 202, body: { accepted: true, state: engine.state } }
        : { status: 409, body: { accepted: false, error: answer.reason } };
    });
  const nodeUrl =
    (role: 'active' | 'standby'): RouteHandler =>
    () => {
      const id = engine.roles()?.[role];
      const node = options.nodes.find((candidate) => candidate.id === id);
      if (node === undefined) {
        const why = options.rolesUnknown?.();
        return { status: 503, body: why === undefined ? 'unknown\n' : `unknown: ${why}\n` };
      }
      const host = node.host.includes(':') ? `[${node.host}]` : node.host;
      return { status: 200, body: `redis://${host}:${node.port}/\n` };
    };

  return [
    { method: 'GET', path: '/healthz', handler: () => ({ status: 200, body: { status: 'ok' } }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: () => {
        const reason = engine.notReady();
        return reason === undefined
          ? { status: 200, body: { ready: true, state: engine.state } }
          : {
              status: 503,
              body: { ready: false, state: engine.state, reason, shuttingDown: engine.stopping },
            };
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
