// Wires one rbuddy process together from a validated configuration: the RESP listener with its
// replication sessions, the control connections to the replicas, the failover engine and the
// admin API. cli.ts calls startApp(); functional tests call it in-process on ephemeral ports.
import { loadTlsHops, type TlsHops } from './tls/hops.js';
import { defaultIdentityPatterns, parseIdentityPatterns } from './tls/peer-identity.js';
import type { Logger } from 'pino';
import { parseReplicaCredential } from './config/replica-credentials.js';
import { formatHostPort, type HostPort, type RbuddyConfig } from './config/types.js';
import { discoveryCommands, peerSentinel, sentinelId } from './discovery/sentinel-commands.js';
import { PubSubHub } from './discovery/pubsub-hub.js';
import { switchWasUnplanned } from './discovery/sentinel-events.js';
import { AdminServer } from './http/admin-server.js';
import { Metrics } from './metrics/metrics.js';
import { adminRoutes } from './http/routes.js';
import { NodeClients } from './nodes/node-client.js';
import { EventBus } from './notify/events.js';
import { Publisher, publishTargets, type PublishTargetStatus } from './notify/publisher.js';
import { WebhookNotifier, type WebhookStatus } from './notify/webhooks.js';
import { ReplicaAddresses } from './proxy/admission.js';
import { ProxyServer, type ClientsStatus } from './proxy/proxy-server.js';
import { ReplicaMatcher } from './proxy/replica-matcher.js';
import type { SessionStatus } from './proxy/session-types.js';
import type { ReplicaNode } from './nodes/replica-node.js';
import { FailoverEngine, type EngineStatus } from './standby/engine.js';
import { MasterProbe } from './standby/master-probe.js';
import { NodeOps } from './standby/node-ops.js';
import type { SessionSource } from './standby/ports.js';
import type { StateStore } from './standby/state-store.js';
import { StateDirLock } from './standby/state-dir-lock.js';
import { StateFile, type StateFileStatus } from './standby/state-file.js';
import {
  etcdGroup,
  groupStatus,
  instanceOf,
  pastLeaderCheck,
  type GroupStatusFields,
  type JoinGroup,
  type OwnListeners,
} from './ha/group-member.js';
import { EventRelay } from './ha/event-relay.js';
import { Leadership, type GroupEngine } from './ha/leadership.js';
import { retireAfterSwitchMs } from './ha/view-freshness.js';
import { WatchedStore } from './ha/watched-store.js';

export interface AppStatus extends EngineStatus, Partial<GroupStatusFields> {
  group: string;
  master: string;
  /** The plain RESP listener's bound address; null with --listen none. */
  listen: string | null;
  /** The TLS RESP listener's bound address; null without --tls-listen. */
  tlsListen: string | null;
  announce: string;
  sessions: SessionStatus[];
  /** Connections on the RESP port that are not replication sessions. */
  clients: ClientsStatus;
  notifications: { webhooks: WebhookStatus[]; publish: PublishTargetStatus[] };
  /** The state file: whether writes succeed, and the last failure. */
  stateStore: StateFileStatus;
  /** Each TLS hop's material (certificate, CA, the last failed reload); absent hops left out. */
  tls: ReturnType<TlsHops['status']>;
  /** Why the master health probe's last attempt failed (e.g. a TLS handshake), or null. */
  masterProbeError: string | null;
  /** With --etcd only (docs/ha.md): the leadership fields. */
}

export interface App {
  readonly proxy: ProxyServer;
  readonly http: AdminServer;
  /** The failover engine; with --etcd, the Leadership that runs one while this instance leads. */
  readonly engine: GroupEngine;
  readonly events: EventBus;
  readonly metrics: Metrics;
  /** Every TLS hop's material; `reload('sighup')` on SIGHUP. */
  readonly tls: TlsHops;
  status(): AppStatus;
  close(reason?: string): Promise<void>;
}

function nullable(address: HostPort | undefined): string | null {
  return address === undefined ? null : formatHostPort(address);
}

function replicaNode(address: HostPort): ReplicaNode {
  return { id: formatHostPort(address), host: address.host, port: address.port };
}

export interface StartOptions {
  /**
   * The app stopped acting for a reason of its own (it lost its state dir lock) and is closing.
   * The CLI exits non-zero; the default only lets the app close.
   */
  onFatal?: (error: Error) => void;
  /**
   * Runs the app as one instance of a group (docs/ha.md) on this Coordination instead of the
   * one --etcd builds (tests: an in-memory group).
   */
  coordination?: JoinGroup;
}

export async function startApp(
  config: RbuddyConfig,
  logger: Logger,
  options: StartOptions = {},
): Promise<App> {
  // Every hop's files are checked before anything starts: a bad one is a start-up error that
  // names its option. Afterwards each hop reloads on SIGHUP and when its files change.
  const tls = await loadTlsHops(config, logger, { watch: true });
  // The master's and the replicas' TLS (each client reads the material current when it
  // connects); the master's certificate must carry --master-tls-servername, else its host.
  const masterTls =
    tls.master === undefined
      ? undefined
      : {
          source: tls.master,
          ...(config.masterTlsServername === '' ? {} : { servername: config.masterTlsServername }),
        };
  const replicaTls = tls.replica === undefined ? undefined : { source: tls.replica };
  let closing: Promise<void> | undefined;
  // With --etcd the group's state and outbox live in etcd and the state dir is not used at all
  // (docs/ha.md, "The state dir"): a second copy on a disk would be a truth the next leader
  // cannot see. Alone, before anything reads or writes the state dir: a second rbuddy on it
  // stops here.
  const joinGroup = options.coordination ?? etcdGroup(config, logger);
  // Sentinel's myid, a digest of the group and the announce: the same on every listener.
  const myid = sentinelId(config.group, formatHostPort(config.announce));
  const own: OwnListeners = {
    myid,
    tls: tls.listener,
    plain: () => proxy.plainAddress(),
    tlsAddress: () => proxy.tlsAddress(),
  };
  const coordination = joinGroup?.(instanceOf(config), own);
  const lock =
    coordination === undefined
      ? await StateDirLock.acquire(config.stateDir, {
          logger,
          onLost: (error) => {
            void close('lost the state dir lock');
            options.onFatal?.(error);
          },
        })
      : undefined;
  const configuredActive = replicaNode(config.active);
  const configuredStandby = replicaNode(config.standby);
  const nodes = [configuredActive, configuredStandby] as const;
  const nodeClients = new NodeClients({
    user: config.replicaUser,
    password: config.replicaPassword,
    connectTimeoutMs: config.connectTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
    ...(replicaTls === undefined ? {} : { tls: replicaTls }),
    // Fenced again when a command is written late (standby/fenced-ops.ts fences it when issued).
    ...(coordination === undefined ? {} : { mayAct: () => coordination.mayAct() }),
    logger,
  });
  const masterAuth =
    config.masterPassword === ''
      ? undefined
      : { user: config.masterUser, password: config.masterPassword };

  // Port 0 (tests, `--listen 127.0.0.1:0`) means "any free port": announce the bound one.
  // --announce follows the TLS listener when there is one (config): so does its bound port.
  const announce = (): HostPort =>
    config.announce.port === 0
      ? { host: config.announce.host, port: (proxy.tlsAddress() ?? proxy.address()).port }
      : config.announce;
  // --replica-credentials: each replica's own user on the listener, bound to its node.
  const credentials = config.replicaCredentials
    .map(parseReplicaCredential)
    .filter((credential) => credential !== undefined);
  const replicaUsers = new Map(credentials.map((c) => [c.user, c.password]));
  const boundUsers = new Map(credentials.map((c) => [formatHostPort(c.node), c.user]));
  const identityPatterns = (patterns: readonly string[], node: ReplicaNode, key: string) =>
    patterns.length === 0
      ? defaultIdentityPatterns(node.host)
      : parseIdentityPatterns(patterns.join(','), key);
  const activeIdentity = identityPatterns(
    config.activeTlsIdentity,
    configuredActive,
    'activeTlsIdentity',
  );
  const standbyIdentity = identityPatterns(
    config.standbyTlsIdentity,
    configuredStandby,
    'standbyTlsIdentity',
  );
  const matcher = new ReplicaMatcher({
    nodes: () => nodes,
    announce,
    inspector: nodeClients,
    boundUser: (node) => boundUsers.get(node.id),
    // A client certificate on the TLS listener is part of a replica's claim.
    identityOf: (node) => (node === configuredActive ? activeIdentity : standbyIdentity),
  });
  // Sentinel subset + pub/sub on the RESP port; roles come from the engine below.
  // The switch its Sentinel messages tell of is read from the persisted record.
  const pubsub = new PubSubHub({
    logger,
    sentinelId: myid,
    currentSwitch: () => engine.currentSwitch(),
  });
  const commands = discoveryCommands({
    view: {
      group: config.group,
      master: config.master,
      nodes,
      roles: () => engine.roles(),
      announce: config.announce,
      myid,
      // The group's other instances, each by the id it gives itself (sentinelId of its announce).
      sentinels: () =>
        coordination === undefined
          ? []
          : coordination.peers().map((peer) => peerSentinel(config.group, peer.announce)),
      port: (config.listen ?? config.tlsListen)?.port,
      connectedClients: () => proxy.clientsStatus().connected,
      nodeInfo: (node) => nodeClients.client(node).info(),
      // What the engine last read of the node (INFO's run_id), as Sentinel reports its own view.
      runId: (node) => engine.status().nodes.find((seen) => seen.id === node.id)?.runId,
    },
    hub: pubsub,
    logger,
  });
  const replicaAddresses = new ReplicaAddresses(() => nodes.map((node) => node.host));
  // Known before the first connection needs them; a failed lookup is retried on demand.
  replicaAddresses.refresh().catch(() => undefined);
  const proxy: ProxyServer = new ProxyServer({
    listen: config.listen,
    tls:
      config.tlsListen === null || tls.listener === undefined
        ? undefined
        : {
            listen: config.tlsListen,
            material: tls.listener,
            authClients: config.tlsAuthClients,
          },
    listenPassword: config.listenPassword,
    replicaUsers,
    boundUser: (node) => boundUsers.get(node.id),
    protectedMode: config.protectedMode,
    maxClients: config.maxClients,
    authTimeoutMs: config.authTimeoutMs,
    isReplicaAddress: (ip) => replicaAddresses.has(ip),
    master: () => config.master,
    masterAuth,
    ...(masterTls === undefined ? {} : { masterTls }),
    replTimeoutMs: config.replTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    matcher,
    // The engine decides what may reach a replica (I1); it exists before any session does.
    gate: (session, reply) => engine.gate(session, reply),
    // The idle standby's sync is held: it stays a replica answering -MASTERDOWN / -READONLY.
    holdSync: (node) => engine.holdsSync(node.id),
    commands,
    logger,
  });

  const events = new EventBus(config.group, logger);
  // Read lazily at scrape time; `status` is defined below and only called once the app runs.
  const metrics = new Metrics({
    status: () => status(),
    replicas: nodes.map((node) => node.id),
    ha: coordination !== undefined,
  });
  events.addSink(metrics);
  // A closed session leaves proxy.sessions(): count its last bytes before it goes.
  proxy.on('session-event', (session, event) => {
    if (event.type === 'closed') metrics.sessionClosed(session.status());
  });
  // Enqueues only, one retrying queue per target: a target that is down never delays a failover.
  const publisher = new Publisher({
    targets: publishTargets(
      config.publish,
      { nodes, clients: nodeClients },
      {
        connectTimeoutMs: config.connectTimeoutMs,
        commandTimeoutMs: config.commandTimeoutMs,
        // rediss:// targets are verified with the replicas' CA (--replica-tls-ca-cert-file).
        ...(replicaTls === undefined ? {} : { tls: replicaTls }),
        logger,
      },
    ),
    channel: config.channel,
    logger,
    record: (channel, result) => metrics.notification(channel, result),
  });
  events.addSink(publisher);
  events.addSink(pubsub.sink(config.channel));
  // In a group every instance tells every event on its own port (docs/ha.md, "Pub/sub and
  // webhooks"): the leader's are recorded in etcd, every instance reads them back.
  const recentEvents = coordination?.recentEvents?.(logger);
  const relay =
    recentEvents &&
    new EventRelay({
      feed: recentEvents,
      unplanned: (event) => switchWasUnplanned(event, engine.currentSwitch()),
      pollMs: Math.min(config.probeIntervalMs, 1000),
      onEvent: (record) => pubsub.relayed(config.channel, record.event, record.unplanned),
      logger,
    });
  if (relay !== undefined) events.addSink(relay);
  // Enqueues only (durable outbox, own delivery loop): a slow endpoint never delays a failover.
  // In a group, one per term, on the group's outbox in etcd: the leader alone delivers.
  const outboxFactory = coordination?.outboxFactory?.(logger);
  const webhookNotifier = (): WebhookNotifier =>
    new WebhookNotifier({
      urls: config.webhook,
      secret: config.webhookSecret,
      stateDir: config.stateDir,
      timeoutMs: config.webhookTimeoutMs,
      logger,
      record: (result) => metrics.notification('webhook', result),
      ...(outboxFactory === undefined ? {} : { outboxFactory }),
    });
  const webhooks = coordination === undefined ? webhookNotifier() : undefined;
  const masterProbe = (): MasterProbe =>
    new MasterProbe({
      master: config.master,
      auth: masterAuth,
      ...(masterTls === undefined ? {} : { tls: masterTls }),
      intervalMs: config.probeIntervalMs,
      timeoutMs: config.probeTimeoutMs,
      failures: config.probeFailures,
      connectTimeoutMs: config.connectTimeoutMs,
      logger,
      onChange: (up, error) => engine.onMasterProbe(up, error),
    });
  const ops = new NodeOps(nodeClients, announce);
  const failoverEngine = (
    store: StateStore,
    probe: MasterProbe,
    sessions: SessionSource,
    mayAct?: () => boolean,
  ): FailoverEngine =>
    new FailoverEngine({
      nodes,
      initialActive: configuredActive,
      initialStandby: configuredStandby,
      masterId: formatHostPort(config.master),
      config: {
        graceMs: config.graceMs,
        drainMs: config.drainMs,
        // In a group, no instance may still name the old active when it is flushed.
        ...(coordination === undefined
          ? {}
          : { retireAfterSwitchMs: retireAfterSwitchMs(config.etcdLeaseMs) }),
        syncTimeoutMs: config.syncTimeoutMs,
        guardEmpty: config.guardEmpty,
        guardShrink: config.guardShrink,
        initFlushStandby: config.initFlushStandby,
      },
      store,
      ops,
      probe,
      sessions,
      bus: events,
      logger,
      ...(mayAct === undefined ? {} : { mayAct }),
      // A restart during a drain (or a takeover): Sentinel clients that were subscribed to the
      // process that died are told of the switch again here (docs/design.md, "Restart and
      // reconciliation").
      onSwitchResumed: (resumed) => pubsub.resumeSwitch(config.group, resumed),
    });
  // Alone: one engine and one probe for the process's life. In a group: Leadership runs them
  // while this instance leads, a new pair each term (ha/leadership.ts).
  const store =
    coordination === undefined
      ? new StateFile(config.stateDir)
      : new WatchedStore(coordination.store);
  const probe = coordination === undefined ? masterProbe() : undefined;
  const leadership =
    coordination === undefined
      ? undefined
      : new Leadership({
          coordination,
          buildTerm: (sessions, mayAct) => {
            const termProbe = masterProbe();
            const engine = failoverEngine(store, termProbe, sessions, mayAct);
            return { engine, probe: termProbe, webhooks: webhookNotifier() };
          },
          sessions: proxy,
          nodes,
          ops,
          // A past leader of this group answers there with the id it gives itself (sentinelId).
          checkAddress: pastLeaderCheck(config, own, (address) =>
            sentinelId(config.group, address),
          ),
          pollMs: Math.min(config.probeIntervalMs, 1000),
          leaseMs: config.etcdLeaseMs,
          logger,
        });
  const engine: GroupEngine = leadership ?? failoverEngine(store, probe ?? masterProbe(), proxy);
  const durable = webhooks ?? leadership;
  if (durable !== undefined) events.addDurableSink(durable);
  const webhookStatus = (): WebhookStatus[] =>
    webhooks?.status() ?? leadership?.webhookStatus() ?? [];

  const status = (): AppStatus => ({
    ...engine.status(),
    group: config.group,
    master: formatHostPort(config.master),
    listen: nullable(proxy.plainAddress()),
    tlsListen: nullable(proxy.tlsAddress()),
    announce: formatHostPort(announce()),
    sessions: proxy.sessions().map((session) => session.status()),
    clients: proxy.clientsStatus(),
    notifications: { webhooks: webhookStatus(), publish: publisher.status() },
    stateStore: store.status(),
    tls: tls.status(),
    masterProbeError:
      probe === undefined ? (leadership?.probeError() ?? null) : (probe.lastError ?? null),
    ...(leadership === undefined ? {} : groupStatus(leadership.leadership(), config.etcdLeaseMs)),
  });

  const http = new AdminServer({
    listen: config.http,
    routes: adminRoutes({
      token: config.httpToken,
      authReads: config.httpAuthReads,
      listenHost: config.http.host,
      allowedHosts: config.httpAllowedHosts,
      logger,
      metrics: () => {
        // The outbox gauge is read at scrape time from the notifiers' own queues.
        metrics.setOutboxPending(
          webhookStatus().reduce((pending, endpoint) => pending + endpoint.pending, 0),
        );
        return metrics.render();
      },
      status,
      engine,
      nodes,
      ...(leadership === undefined ? {} : { rolesUnknown: () => leadership.rolesUnknown() }),
    }),
    logger,
    limits: {
      maxConnections: config.httpMaxConnections,
      requestTimeoutMs: config.httpRequestTimeoutMs,
    },
    ...(tls.http === undefined ? {} : { tls: tls.http }),
  });

  // Before the listeners: the epoch and roles are known before anyone can ask (a status read
  // right after a restart sees the persisted epoch), and what a previous run left in the outbox
  // goes out before anything new.
  await webhooks?.start();
  try {
    await engine.load();
    // Before the listeners: what the group emitted before this port opened is not told here.
    await relay?.start();
    await proxy.start();
    await http.start();
    await engine.start();
    probe?.start();
    tls.master?.onReload(() =>
      probe === undefined ? leadership?.reconnectProbe() : probe.reconnect(),
    );
  } catch (error) {
    probe?.stop();
    await relay?.stop();
    await leadership?.stop();
    await webhooks?.close();
    await publisher.close();
    await Promise.all([proxy.close(), http.close()]);
    await nodeClients.close();
    tls.close();
    await lock?.release();
    throw error;
  }
  return { proxy, http, engine, events, metrics, tls, status, close };

  function close(reason = 'shutdown'): Promise<void> {
    closing ??= (async () => {
      logger.info({ reason }, 'shutting down');
      probe?.stop();
      // Before the engine: in a group, stopping it closes the etcd client they use.
      await relay?.stop();
      await engine.stop();
      await webhooks?.close();
      await publisher.close();
      await Promise.all([proxy.close(), http.close()]);
      await nodeClients.close();
      tls.close();
      // Last: until here this process may still write the state and the outbox.
      await lock?.release();
      logger.info('stopped');
    })();
    return closing;
  }
}
