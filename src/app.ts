// Wires one rbuddy process together from a validated configuration: the RESP listener with its
// replication sessions, the control connections to the replicas, the failover engine and the
// admin API. cli.ts calls startApp(); functional tests call it in-process on ephemeral ports.
import type { Logger } from 'pino';
import { formatHostPort, type HostPort, type RbuddyConfig } from './config-types.js';
import { AdminServer } from './http/admin-server.js';
import { adminRoutes } from './http/routes.js';
import { NodeClients } from './nodes/node-client.js';
import { EventBus } from './notify/events.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { ReplicaMatcher } from './proxy/replica-matcher.js';
import type { ReplicaNode, SessionStatus } from './proxy/session-types.js';
import { FailoverEngine, type EngineStatus } from './standby/engine.js';
import { MasterProbe } from './standby/master-probe.js';
import { NodeOps } from './standby/node-ops.js';
import { StateStore } from './standby/state-store.js';

export interface AppStatus extends EngineStatus {
  group: string;
  master: string;
  listen: string;
  announce: string;
  sessions: SessionStatus[];
}

export interface App {
  readonly proxy: ProxyServer;
  readonly http: AdminServer;
  readonly engine: FailoverEngine;
  readonly events: EventBus;
  status(): AppStatus;
  close(reason?: string): Promise<void>;
}

export function replicaNode(address: HostPort): ReplicaNode {
  return { id: formatHostPort(address), host: address.host, port: address.port };
}

export async function startApp(config: RbuddyConfig, logger: Logger): Promise<App> {
  const configuredActive = replicaNode(config.active);
  const configuredStandby = replicaNode(config.standby);
  const nodes = [configuredActive, configuredStandby] as const;
  const nodeClients = new NodeClients({
    user: config.replicaUser,
    password: config.replicaPassword,
    connectTimeoutMs: config.connectTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
    logger,
  });
  const masterAuth =
    config.masterPassword === ''
      ? undefined
      : { user: config.masterUser, password: config.masterPassword };

  // Port 0 (tests, `--listen 127.0.0.1:0`) means "any free port": announce the bound one.
  const announce = (): HostPort =>
    config.announce.port === 0
      ? { host: config.announce.host, port: proxy.address().port }
      : config.announce;
  const matcher = new ReplicaMatcher(() => nodes, announce, nodeClients);
  const proxy: ProxyServer = new ProxyServer({
    listen: config.listen,
    listenPassword: config.listenPassword,
    master: () => config.master,
    masterAuth,
    replTimeoutMs: config.replTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    matcher,
    // The engine decides what may reach a replica (I1); it exists before any session does.
    gate: (session, reply) => engine.gate(session, reply),
    logger,
  });

  const events = new EventBus(config.group, logger);
  const probe: MasterProbe = new MasterProbe({
    master: config.master,
    auth: masterAuth,
    intervalMs: config.probeIntervalMs,
    timeoutMs: config.probeTimeoutMs,
    failures: config.probeFailures,
    connectTimeoutMs: config.connectTimeoutMs,
    logger,
    onChange: (up, error) => engine.onMasterProbe(up, error),
  });
  const engine: FailoverEngine = new FailoverEngine({
    nodes,
    initialActive: configuredActive,
    initialStandby: configuredStandby,
    masterId: formatHostPort(config.master),
    config: {
      graceMs: config.graceMs,
      drainMs: config.drainMs,
      syncTimeoutMs: config.syncTimeoutMs,
      guardEmpty: config.guardEmpty,
      initFlushStandby: config.initFlushStandby,
    },
    store: new StateStore(config.stateDir),
    ops: new NodeOps(nodeClients, announce),
    probe,
    proxy,
    bus: events,
    logger,
  });

  const status = (): AppStatus => ({
    ...engine.status(),
    group: config.group,
    master: formatHostPort(config.master),
    listen: formatHostPort(proxy.address()),
    announce: formatHostPort(announce()),
    sessions: proxy.sessions().map((session) => session.status()),
  });

  const http = new AdminServer({
    listen: config.http,
    routes: adminRoutes({
      token: config.httpToken,
      authReads: config.httpAuthReads,
      status,
      engine,
      nodes,
    }),
    logger,
  });

  await proxy.start();
  try {
    await http.start();
    await engine.start();
    probe.start();
  } catch (error) {
    probe.stop();
    await Promise.all([proxy.close(), http.close()]);
    await nodeClients.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    proxy,
    http,
    engine,
    events,
    status,
    close(reason = 'shutdown') {
      closing ??= (async () => {
        logger.info({ reason }, 'shutting down');
        probe.stop();
        await engine.stop();
        await Promise.all([proxy.close(), http.close()]);
        await nodeClients.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}
