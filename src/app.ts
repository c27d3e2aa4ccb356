// Wires one rbuddy process together from a validated configuration: the RESP listener with
// its replication sessions, the control connections to the replicas, and the admin API.
// cli.ts calls startApp(); functional tests call it in-process with ephemeral ports.
import type { Logger } from 'pino';
import { formatHostPort, type HostPort, type RbuddyConfig } from './config-types.js';
import { AdminServer, type Route } from './http/admin-server.js';
import { NodeClients } from './nodes/node-client.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { ReplicaMatcher } from './proxy/replica-matcher.js';
import type { ReplicaNode, SessionStatus } from './proxy/session-types.js';

export interface AppStatus {
  group: string;
  master: string;
  active: string;
  standby: string;
  listen: string;
  announce: string;
  sessions: SessionStatus[];
}

export interface App {
  readonly proxy: ProxyServer;
  readonly http: AdminServer;
  status(): AppStatus;
  close(reason?: string): Promise<void>;
}

export function replicaNode(address: HostPort): ReplicaNode {
  return { id: formatHostPort(address), host: address.host, port: address.port };
}

export async function startApp(config: RbuddyConfig, logger: Logger): Promise<App> {
  const active = replicaNode(config.active);
  const standby = replicaNode(config.standby);
  const nodeClients = new NodeClients({
    user: config.replicaUser,
    password: config.replicaPassword,
    connectTimeoutMs: config.connectTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
    logger,
  });
  // Port 0 (tests, `--listen 127.0.0.1:0`) means "any free port": announce the bound one.
  const announce = (): HostPort =>
    config.announce.port === 0
      ? { host: config.announce.host, port: proxy.address().port }
      : config.announce;
  const matcher = new ReplicaMatcher(() => [active, standby], announce, nodeClients);
  const proxy = new ProxyServer({
    listen: config.listen,
    listenPassword: config.listenPassword,
    master: () => config.master,
    masterAuth:
      config.masterPassword === ''
        ? undefined
        : { user: config.masterUser, password: config.masterPassword },
    replTimeoutMs: config.replTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    matcher,
    logger,
  });

  const status = (): AppStatus => ({
    group: config.group,
    master: formatHostPort(config.master),
    active: active.id,
    standby: standby.id,
    listen: formatHostPort(proxy.address()),
    announce: formatHostPort(announce()),
    sessions: proxy.sessions().map((session) => session.status()),
  });

  const routes: Route[] = [
    { method: 'GET', path: '/healthz', handler: () => ({ status: 200, body: { status: 'ok' } }) },
    { method: 'GET', path: '/v1/status', handler: () => ({ status: 200, body: status() }) },
  ];
  const http = new AdminServer({ listen: config.http, routes, logger });

  await proxy.start();
  try {
    await http.start();
  } catch (error) {
    await proxy.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    proxy,
    http,
    status,
    close(reason = 'shutdown') {
      closing ??= (async () => {
        logger.info({ reason }, 'shutting down');
        await Promise.all([proxy.close(), http.close()]);
        await nodeClients.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}
