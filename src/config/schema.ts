// The one configuration schema: every setting with its doc string, format, default (or null when
// required), environment variable, command-line flag and, for secrets, `sensitive`. The names are
// rbuddy's public interface (docs/configuration.md); --help, the generated docs, the file and flag
// checks and the logger's redaction are all built from this table, so they cannot drift apart.

import { ETCD_SETTINGS } from './etcd-settings.js';
import { FORMATS } from './formats.js';
import type { Setting } from './setting.js';
import { TLS_SETTINGS } from './tls-settings.js';
import type { HostPort, RbuddyConfig } from './types.js';

/** What convict holds: RbuddyConfig, plus the config file path, and announce before defaulting. */
export type Settings = Omit<RbuddyConfig, 'announce'> & {
  config: string;
  announce: HostPort | null;
};
export type SettingKey = keyof Settings;

export const SETTINGS: { readonly [K in SettingKey]: Setting<Settings[K]> } = {
  config: {
    doc: 'JSON file with settings, keyed by the names in quotes below (e.g. "graceMs"). Environment variables and flags override it; unknown keys are an error.',
    format: 'text',
    default: '',
    env: 'RBUDDY_CONFIG',
    arg: 'config',
    placeholder: 'FILE',
  },
  master: {
    doc: 'The real Redis master: the proxy opens one upstream replication connection to it per replica.',
    format: 'host-port',
    default: null,
    env: 'RBUDDY_MASTER',
    arg: 'master',
  },
  masterUser: {
    doc: 'ACL user the proxy presents to the master (empty: the default user).',
    format: 'text',
    default: '',
    env: 'RBUDDY_MASTER_USER',
    arg: 'master-user',
    placeholder: 'USER',
  },
  masterPassword: {
    doc: 'Password the proxy presents to the master. Give it in the environment: flags show up in ps.',
    format: 'text',
    default: '',
    env: 'RBUDDY_MASTER_PASSWORD',
    arg: 'master-password',
    placeholder: 'PASSWORD',
    sensitive: true,
  },
  active: {
    doc: 'The replica applications read from, on first start; afterwards the roles come from the state dir.',
    format: 'host-port',
    default: null,
    env: 'RBUDDY_ACTIVE',
    arg: 'active',
  },
  standby: {
    doc: 'The spare replica that takes full resyncs, on first start; afterwards the roles come from the state dir.',
    format: 'host-port',
    default: null,
    env: 'RBUDDY_STANDBY',
    arg: 'standby',
  },
  replicaUser: {
    doc: "ACL user for the proxy's control connections to the replicas (REPLICAOF, INFO, FLUSHALL...).",
    format: 'text',
    default: '',
    env: 'RBUDDY_REPLICA_USER',
    arg: 'replica-user',
    placeholder: 'USER',
  },
  replicaPassword: {
    doc: "Password for the proxy's control connections to the replicas.",
    format: 'text',
    default: '',
    env: 'RBUDDY_REPLICA_PASSWORD',
    arg: 'replica-password',
    placeholder: 'PASSWORD',
    sensitive: true,
  },
  listen: {
    doc: 'RESP listener: replication from the replicas, plus Sentinel-style discovery and pub/sub. Port 0 lets the kernel choose; `none`: no plain listener (with --tls-listen).',
    format: 'bind-address-or-none',
    default: { host: '0.0.0.0', port: 6382 },
    nullable: true,
    env: 'RBUDDY_LISTEN',
    arg: 'listen',
  },
  replicaCredentials: {
    doc: "Per-replica credentials for the RESP listener, comma separated USER:PASSWORD@HOST:PORT, HOST:PORT being the replica's --active or --standby address: that replica's masteruser and masterauth. A replica with credentials here is recognised only on a connection that AUTHed as its own user (and confirmed by the node, as every replica is); that user can claim no other replica. The strongest identity short of TLS client certificates.",
    format: 'replica-credentials',
    default: [],
    env: 'RBUDDY_REPLICA_CREDENTIALS',
    arg: 'replica-credentials',
    sensitive: true,
  },
  listenPassword: {
    doc: "Password clients of the RESP listener must AUTH with (the replicas' masterauth). Empty: no AUTH required.",
    format: 'text',
    default: '',
    env: 'RBUDDY_LISTEN_PASSWORD',
    arg: 'listen-password',
    placeholder: 'PASSWORD',
    sensitive: true,
  },
  protectedMode: {
    doc: "Like Redis's protected-mode: with no --listen-password and a --listen address that is not loopback-only, refuse (with -DENIED, which says how to change it) every client that does not connect from the loopback interface. Turn off only where untrusted networks cannot reach the port.",
    format: 'yes-no',
    default: true,
    env: 'RBUDDY_PROTECTED_MODE',
    arg: 'protected-mode',
  },
  maxClients: {
    doc: "Connections on the RESP listener at most, like Redis's maxclients; one more gets -ERR max number of clients reached. Replication sessions of the configured replicas do not count, and a few connections from a replica's address are admitted past the limit, so that strangers cannot keep a replica from reconnecting.",
    format: 'positive-int',
    default: 1_000,
    env: 'RBUDDY_MAX_CLIENTS',
    arg: 'max-clients',
  },
  authTimeoutMs: {
    doc: 'Time a new connection on the RESP listener has to authenticate (with --listen-password) or else to send a first valid command; then it is closed.',
    format: 'positive-duration-ms',
    default: 10_000,
    env: 'RBUDDY_AUTH_TIMEOUT_MS',
    arg: 'auth-timeout-ms',
  },
  announce: {
    doc: 'Address the replicas are told to REPLICAOF. Default: the --tls-listen address if there is one, else the --listen address; if that is a wildcard (0.0.0.0 or ::), the loopback address of the same family (127.0.0.1 or ::1) with the listen port, which only replicas on this host can reach: set --announce when they run elsewhere. Never the --master, --active or --standby address, nor a wildcard (refused).',
    format: 'host-port',
    default: null,
    nullable: true,
    env: 'RBUDDY_ANNOUNCE',
    arg: 'announce',
  },
  ...TLS_SETTINGS,
  http: {
    doc: 'Admin HTTP listener (status, metrics, failover control). Port 0 lets the kernel choose.',
    format: 'bind-address',
    default: { host: '127.0.0.1', port: 9999 },
    env: 'RBUDDY_HTTP',
    arg: 'http',
  },
  httpToken: {
    doc: 'Bearer token the admin POST endpoints require (and GET ones with --http-auth-reads). Empty: POSTs are refused.',
    format: 'text',
    default: '',
    env: 'RBUDDY_HTTP_TOKEN',
    arg: 'http-token',
    placeholder: 'TOKEN',
    sensitive: true,
  },
  httpAuthReads: {
    doc: 'Require the bearer token on the GET endpoints of the admin API too.',
    format: 'boolean-flag',
    default: false,
    env: 'RBUDDY_HTTP_AUTH_READS',
    arg: 'http-auth-reads',
  },
  httpAllowedHosts: {
    doc: 'Host names the unauthenticated GET endpoints (/v1/status, /metrics, /active, /standby) answer to, comma separated, besides the address a request arrived on, the --http host and loopback names (localhost, 127.0.0.1, ::1). A request naming another Host gets 421: this stops a web page from reading the API through DNS rebinding. Not checked with --http-auth-reads.',
    format: 'host-list',
    default: [],
    env: 'RBUDDY_HTTP_ALLOWED_HOSTS',
    arg: 'http-allowed-hosts',
  },
  httpMaxConnections: {
    doc: 'Most connections the admin HTTP listener holds at once; past it the oldest connection with no request in flight is closed to make room (or, when every one is busy, the new one).',
    format: 'positive-int',
    default: 64,
    env: 'RBUDDY_HTTP_MAX_CONNECTIONS',
    arg: 'http-max-connections',
  },
  httpRequestTimeoutMs: {
    doc: 'Time an admin HTTP client has to send a whole request (headers and body), counted from its connection or its previous request; a slower one gets 408 and is closed.',
    format: 'positive-duration-ms',
    default: 10_000,
    env: 'RBUDDY_HTTP_REQUEST_TIMEOUT_MS',
    arg: 'http-request-timeout-ms',
  },
  stateDir: {
    doc: 'Directory for the persisted roles, epoch and notification outbox. Keep it across restarts.',
    format: 'nonempty-text',
    default: './rbuddy-state',
    env: 'RBUDDY_STATE_DIR',
    arg: 'state-dir',
    placeholder: 'DIR',
  },
  graceMs: {
    doc: 'How long the master may be missing before the active replica is promoted and the standby resyncs (0: at once).',
    format: 'duration-ms',
    default: 10_000,
    env: 'RBUDDY_GRACE_MS',
    arg: 'grace-ms',
  },
  probeIntervalMs: {
    doc: 'Interval of the master health probe (PING on its own connection).',
    format: 'positive-duration-ms',
    default: 1_000,
    env: 'RBUDDY_PROBE_INTERVAL_MS',
    arg: 'probe-interval-ms',
  },
  probeTimeoutMs: {
    doc: 'Time the master has to answer one health probe.',
    format: 'positive-duration-ms',
    default: 1_000,
    env: 'RBUDDY_PROBE_TIMEOUT_MS',
    arg: 'probe-timeout-ms',
  },
  probeFailures: {
    doc: 'Failed health probes in a row that mean the master is lost.',
    format: 'positive-int',
    default: 3,
    env: 'RBUDDY_PROBE_FAILURES',
    arg: 'probe-failures',
  },
  drainMs: {
    doc: 'Delay between announcing the new active replica and flushing the old one, so that clients can move (0: none).',
    format: 'duration-ms',
    default: 5_000,
    env: 'RBUDDY_DRAIN_MS',
    arg: 'drain-ms',
  },
  syncTimeoutMs: {
    doc: "How long to wait for the standby's full sync before giving up on that attempt and retrying.",
    format: 'positive-duration-ms',
    default: 3_600_000,
    env: 'RBUDDY_SYNC_TIMEOUT_MS',
    arg: 'sync-timeout-ms',
  },
  guardEmpty: {
    doc: 'When the resynced standby is empty but the active is not: "hold" waits for an operator (POST /v1/failover/confirm or /abort), "switch" switches anyway.',
    format: 'guard-empty',
    default: 'hold',
    env: 'RBUDDY_GUARD_EMPTY',
    arg: 'guard-empty',
  },
  guardShrink: {
    doc: "When the resynced standby holds fewer keys (DBSIZE over every db) than this share of the active's, as when the master came back with only part of its data: wait for an operator, as --guard-empty hold does (POST /v1/failover/confirm or /abort). From 0 to 1; 0.5 holds below half, 0 turns it off. An empty standby is --guard-empty's case.",
    format: 'ratio',
    default: 0.5,
    env: 'RBUDDY_GUARD_SHRINK',
    arg: 'guard-shrink',
  },
  initFlushStandby: {
    doc: 'On first start (no state yet), flush a standby that holds keys instead of refusing to touch it; never one that may serve reads (it replicates from rbuddy or carries the write guard) nor one that holds the only data (the active has none).',
    format: 'boolean-flag',
    default: false,
    env: 'RBUDDY_INIT_FLUSH_STANDBY',
    arg: 'init-flush-standby',
  },
  webhook: {
    doc: 'Webhook endpoint(s) for events, comma separated http(s) URLs (Standard Webhooks signatures). Logs, /v1/status and errors show only their origin (scheme, host, port): such URLs often carry a token in the path or query.',
    format: 'url-list',
    default: [],
    env: 'RBUDDY_WEBHOOK',
    arg: 'webhook',
  },
  webhookSecret: {
    doc: 'Standard Webhooks signing secret (whsec_...) for the webhook-signature header.',
    format: 'text',
    default: '',
    env: 'RBUDDY_WEBHOOK_SECRET',
    arg: 'webhook-secret',
    placeholder: 'SECRET',
    sensitive: true,
  },
  webhookTimeoutMs: {
    doc: 'Timeout for one webhook delivery attempt; a slower endpoint counts as failed and is retried.',
    format: 'positive-duration-ms',
    default: 10_000,
    env: 'RBUDDY_WEBHOOK_TIMEOUT_MS',
    arg: 'webhook-timeout-ms',
  },
  publish: {
    doc: 'Where to PUBLISH events: "replicas" (the active and standby), "none", or redis:// / rediss:// URLs; comma separated. Passwords in URLs are never logged.',
    format: 'publish-targets',
    default: ['replicas'],
    env: 'RBUDDY_PUBLISH',
    arg: 'publish',
  },
  channel: {
    doc: 'Pub/sub channel events are published on.',
    format: 'nonempty-text',
    default: 'rbuddy:events',
    env: 'RBUDDY_CHANNEL',
    arg: 'channel',
    placeholder: 'CHANNEL',
  },
  group: {
    doc: 'Name used in events, metrics and Sentinel-compatible discovery (the Sentinel master name).',
    format: 'group-name',
    default: 'rbuddy',
    env: 'RBUDDY_GROUP',
    arg: 'group',
  },
  logLevel: {
    doc: 'Log level (JSON lines on stdout).',
    format: 'log-level',
    default: 'info',
    env: 'RBUDDY_LOG_LEVEL',
    arg: 'log-level',
  },
  replTimeoutMs: {
    doc: "Like Redis's repl-timeout: a replica or upstream that does not drain or speak for this long is dropped.",
    format: 'positive-duration-ms',
    default: 60_000,
    env: 'RBUDDY_REPL_TIMEOUT_MS',
    arg: 'repl-timeout-ms',
  },
  connectTimeoutMs: {
    doc: 'TCP connect timeout for every connection the proxy opens.',
    format: 'positive-duration-ms',
    default: 5_000,
    env: 'RBUDDY_CONNECT_TIMEOUT_MS',
    arg: 'connect-timeout-ms',
  },
  commandTimeoutMs: {
    doc: 'Timeout for every command the proxy sends on its control connections.',
    format: 'positive-duration-ms',
    default: 5_000,
    env: 'RBUDDY_COMMAND_TIMEOUT_MS',
    arg: 'command-timeout-ms',
  },
  ...ETCD_SETTINGS,
};

export function isSettingKey(name: string): name is SettingKey {
  return Object.hasOwn(SETTINGS, name);
}

/** Every setting, in the schema's order (the order of --help and docs/configuration.md). */
export const SETTING_KEYS: readonly SettingKey[] = Object.keys(SETTINGS).filter(isSettingKey);

/** The settings whose values are secrets: never logged, echoed in errors or shown as defaults. */
export const SENSITIVE_KEYS: readonly SettingKey[] = SETTING_KEYS.filter(
  (key) => SETTINGS[key].sensitive === true,
);

/** The placeholder for the flag's value in --help and errors, e.g. HOST:PORT. */
export function placeholderOf(setting: Setting<unknown>): string {
  return setting.placeholder ?? FORMATS[setting.format].placeholder;
}

export function isRequired(setting: Setting<unknown>): boolean {
  return setting.default === null && setting.nullable !== true;
}
