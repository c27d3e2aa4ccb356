// The one configuration schema. Every setting has a doc string, a format, a default (or is
// required), an environment variable and a command-line flag; SPEC §3 fixes the names, and
// `rbuddy --help` (and any generated docs) are built from this table, so they cannot drift apart.
//
// Precedence: defaults < --config FILE.json (or RBUDDY_CONFIG) < environment < flags.
// Every problem becomes one ConfigError line naming the setting; secret values are never quoted.

import { readFileSync } from 'node:fs';
import { isIP, isIPv6 } from 'node:net';
import convict from 'convict';
import { formatHostPort, type GuardEmpty, type HostPort, type RbuddyConfig } from './types.js';
import { ConfigError } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// Formats

/** Node's timers overflow above 2^31 - 1 ms and then fire after 1 ms: never accept more. */
const MAX_TIMER_MS = 2_147_483_647;

const GUARD_EMPTY_VALUES: readonly GuardEmpty[] = ['hold', 'switch'];
const LOG_LEVELS: readonly RbuddyConfig['logLevel'][] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export type FormatName =
  | 'host-port'
  | 'bind-address'
  | 'text'
  | 'nonempty-text'
  | 'group-name'
  | 'positive-int'
  | 'duration-ms'
  | 'positive-duration-ms'
  | 'boolean-flag'
  | 'yes-no'
  | 'guard-empty'
  | 'ratio'
  | 'log-level'
  | 'url-list'
  | 'host-list'
  | 'replica-credentials'
  | 'publish-targets';

interface FormatSpec {
  /** Shown after the flag in --help, e.g. `--master HOST:PORT`. */
  placeholder: string;
  /**
   * Whether an invalid value may be quoted back in the error. Never for URL lists: webhook URLs
   * often carry a token in their path and redis:// URLs a password, even when malformed.
   */
  echo: boolean;
  /** What a config file may hold for this setting, checked before convict sees the file. */
  fileTypes: readonly ('string' | 'number' | 'boolean' | 'string-array')[];
  /** From a string (env, flag, file); must not throw, so that validate() can name the setting. */
  coerce?: (raw: string) => unknown;
  /** Throws an Error that says what is wrong, without quoting the value. */
  validate: (value: unknown) => void;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

function parseAddress(text: string, minPort: 0 | 1): Parsed<HostPort> {
  const trimmed = text.trim();
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close === -1) return { ok: false, problem: 'missing "]" after the IPv6 address' };
    host = trimmed.slice(1, close);
    if (!isIPv6(host)) return { ok: false, problem: 'the part inside [ ] is not an IPv6 address' };
    if (trimmed[close + 1] !== ':') return { ok: false, problem: 'expected [ipv6]:port' };
    portText = trimmed.slice(close + 2);
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon === -1) return { ok: false, problem: 'expected host:port (no port given)' };
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host === '') return { ok: false, problem: 'expected host:port (the host is empty)' };
    if (host.includes(':')) {
      return { ok: false, problem: 'write an IPv6 address in brackets, e.g. [::1]:6379' };
    }
    // Host names, IPv4 literals and container names (which may contain "_").
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(host)) {
      return { ok: false, problem: 'the host is not a valid host name or IP address' };
    }
  }
  if (!/^\d{1,5}$/.test(portText)) {
    return { ok: false, problem: `the port must be a number from ${minPort} to 65535` };
  }
  const port = Number(portText);
  if (port < minPort || port > 65535) {
    return { ok: false, problem: `the port must be from ${minPort} to 65535` };
  }
  return { ok: true, value: { host, port } };
}

/** `host:port`, with IPv6 hosts in brackets: the form every flag and log line uses. */

function isHostPort(value: unknown): value is HostPort {
  if (typeof value !== 'object' || value === null) return false;
  const { host, port } = value as Partial<Record<keyof HostPort, unknown>>;
  return typeof host === 'string' && typeof port === 'number';
}

function addressFormat(minPort: 0 | 1, placeholder: string): FormatSpec {
  return {
    placeholder,
    echo: true,
    fileTypes: ['string'],
    // A string that does not parse stays a string, so that validate() reports why.
    coerce: (raw) => {
      const parsed = parseAddress(raw, minPort);
      return parsed.ok ? parsed.value : raw;
    },
    validate: (value) => {
      const text = isHostPort(value) ? formatHostPort(value) : value;
      if (typeof text !== 'string') throw new Error('must be a "host:port" string');
      const parsed = parseAddress(text, minPort);
      if (!parsed.ok) throw new Error(parsed.problem);
    },
  };
}

function integerFormat(min: 0 | 1, placeholder: string, unit: string): FormatSpec {
  return {
    placeholder,
    echo: true,
    fileTypes: ['number', 'string'],
    coerce: (raw) => (/^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : raw),
    validate: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new Error(`must be a whole number${unit}`);
      }
      if (value < 0) throw new Error(`must not be negative`);
      if (value < min) throw new Error(`must be at least ${min}`);
      if (value > MAX_TIMER_MS) {
        throw new Error(`must be at most ${MAX_TIMER_MS} (the longest a Node.js timer can wait)`);
      }
    },
  };
}

function booleanFormat(placeholder: string, words: string): FormatSpec {
  return {
    placeholder,
    echo: true,
    fileTypes: ['boolean', 'string'],
    // convict's own Boolean coercion turns every string but "false" into true ("flase" → true);
    // an unrecognised word must be an error instead.
    coerce: (raw) => {
      const word = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(word)) return true;
      if (['false', '0', 'no', 'off'].includes(word)) return false;
      return raw;
    },
    validate: (value) => {
      if (typeof value !== 'boolean') throw new Error(`must be ${words}`);
    },
  };
}

function enumFormat(values: readonly string[]): FormatSpec {
  return {
    placeholder: values.join('|'),
    echo: true,
    fileTypes: ['string'],
    coerce: (raw) => raw.trim(),
    validate: (value) => {
      if (typeof value !== 'string' || !values.includes(value)) {
        throw new Error(`must be one of: ${values.join(', ')}`);
      }
    },
  };
}

function stringFormat(placeholder: string, check?: (value: string) => string | undefined) {
  const spec: FormatSpec = {
    placeholder,
    echo: true,
    fileTypes: ['string'],
    validate: (value) => {
      if (typeof value !== 'string') throw new Error('must be a string');
      const problem = check?.(value);
      if (problem !== undefined) throw new Error(problem);
    },
  };
  return spec;
}

/** Comma separated in env and flags; a JSON file may also give an array of strings. */
function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function stringList(value: unknown): string[] {
  if (!isStringArray(value)) {
    throw new Error('must be a comma separated list (or, in a config file, an array of strings)');
  }
  return value;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** One `--replica-credentials` entry: the user and password that one replica AUTHs with. */
export interface ReplicaCredential {
  user: string;
  password: string;
  /** The replica, as its --active or --standby address. */
  node: HostPort;
}

export function parseReplicaCredential(entry: string): ReplicaCredential | undefined {
  const at = entry.lastIndexOf('@');
  const colon = entry.indexOf(':');
  if (at < 0 || colon < 1 || colon > at) return undefined;
  const address = parseAddress(entry.slice(at + 1), 1);
  const password = entry.slice(colon + 1, at);
  if (!address.ok || password === '' || /\s/.test(entry.slice(0, colon))) return undefined;
  return { user: entry.slice(0, colon), password, node: address.value };
}

function ordinal(index: number, count: number): string {
  return count === 1 ? 'the value' : `entry ${index + 1} of ${count}`;
}

const FORMATS: Readonly<Record<FormatName, FormatSpec>> = {
  'host-port': addressFormat(1, 'HOST:PORT'),
  // Listeners may bind port 0 (the kernel picks a free one), which tests rely on.
  'bind-address': addressFormat(0, 'HOST:PORT'),
  text: stringFormat('VALUE'),
  'nonempty-text': stringFormat('VALUE', (value) =>
    value.trim() === '' ? 'must not be empty' : undefined,
  ),
  // The group name is a word in Sentinel's space separated `+switch-master <group> …` message.
  'group-name': stringFormat('NAME', (value) =>
    /^\S+$/.test(value) ? undefined : 'must be non-empty, without spaces',
  ),
  'positive-int': integerFormat(1, 'N', ''),
  'duration-ms': integerFormat(0, 'MS', ' of milliseconds'),
  'positive-duration-ms': integerFormat(1, 'MS', ' of milliseconds'),
  'boolean-flag': booleanFormat('[=true|false]', 'true or false'),
  // Redis's own spelling for its switches (`--protected-mode no`), which operators will type; it
  // takes a value like any other flag, unlike the bare boolean flags above.
  'yes-no': booleanFormat('yes|no', 'yes or no'),
  'guard-empty': enumFormat(GUARD_EMPTY_VALUES),
  ratio: {
    placeholder: 'RATIO',
    echo: true,
    fileTypes: ['number', 'string'],
    coerce: (raw) => (/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(raw) ? Number(raw) : raw),
    validate: (value) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Error('must be a number from 0 to 1, e.g. 0.5');
      }
      if (value < 0 || value > 1) throw new Error('must be from 0 to 1');
    },
  },
  'log-level': enumFormat(LOG_LEVELS),
  'url-list': {
    placeholder: 'URL[,URL...]',
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const urls = stringList(value);
      urls.forEach((text, index) => {
        const url = parseUrl(text);
        if (url === undefined || url.hostname === '') {
          throw new Error(`${ordinal(index, urls.length)} is not a valid URL`);
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') {
          throw new Error(`${ordinal(index, urls.length)} must use http:// or https://`);
        }
      });
    },
  },
  'host-list': {
    placeholder: 'NAME[,NAME...]',
    echo: true,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const names = stringList(value);
      names.forEach((name, index) => {
        // What a Host header names: a DNS name or an IP literal, without a port (any port).
        const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
        if (!isIP(bare) && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/.test(bare)) {
          throw new Error(
            `${ordinal(index, names.length)} is not a host name or IP address (no scheme, port or path)`,
          );
        }
      });
    },
  },
  'replica-credentials': {
    placeholder: 'USER:PASSWORD@HOST:PORT[,...]',
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const entries = stringList(value);
      entries.forEach((entry, index) => {
        if (parseReplicaCredential(entry) === undefined) {
          throw new Error(
            `${ordinal(index, entries.length)} must be USER:PASSWORD@HOST:PORT (the replica's masteruser and masterauth, and its address as configured)`,
          );
        }
      });
    },
  },
  'publish-targets': {
    placeholder: 'replicas|none|redis://...[,...]',
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const targets = stringList(value);
      if (targets.length === 0)
        throw new Error('must not be empty (use "none" to publish nowhere)');
      if (targets.includes('none') && targets.length > 1) {
        throw new Error('"none" cannot be combined with other targets');
      }
      targets.forEach((target, index) => {
        if (target === 'replicas' || target === 'none') return;
        const url = parseUrl(target);
        if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
          throw new Error(
            `entry ${index + 1} must be "replicas", "none" or a redis:// or rediss:// URL`,
          );
        }
        if (url.hostname === '') throw new Error(`entry ${index + 1} has no host`);
      });
    },
  },
};

// convict keeps formats in a module-wide registry; only this module uses convict.
convict.addFormats(
  Object.fromEntries(
    Object.entries(FORMATS).map(([name, spec]) => [
      name,
      spec.coerce === undefined
        ? { validate: spec.validate }
        : { validate: spec.validate, coerce: spec.coerce },
    ]),
  ),
);

// ---------------------------------------------------------------------------------------------
// The schema

/** What convict holds: RbuddyConfig, plus the config file path, and announce before defaulting. */
type Settings = Omit<RbuddyConfig, 'announce'> & { config: string; announce: HostPort | null };
export type SettingKey = keyof Settings;

interface Setting<T> {
  doc: string;
  format: FormatName;
  /** `null` with `nullable` unset marks a required setting. */
  default: T | null;
  env: string;
  /** The flag without its leading `--`. */
  arg: string;
  /** For --help, when the format's own (e.g. VALUE) says too little. */
  placeholder?: string;
  sensitive?: true;
  nullable?: true;
}

const SETTINGS: { readonly [K in SettingKey]: Setting<Settings[K]> } = {
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
    doc: 'RESP listener: replication from the replicas, plus Sentinel-style discovery and pub/sub. Port 0 lets the kernel choose.',
    format: 'bind-address',
    default: { host: '0.0.0.0', port: 6382 },
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
    doc: 'Address the replicas are told to REPLICAOF. Default: the --listen address; if that is a wildcard (0.0.0.0 or ::), the loopback address of the same family (127.0.0.1 or ::1) with the listen port, which only replicas on this host can reach: set --announce when they run elsewhere.',
    format: 'host-port',
    default: null,
    nullable: true,
    env: 'RBUDDY_ANNOUNCE',
    arg: 'announce',
  },
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
};

const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];
const KEY_BY_FLAG = new Map(SETTING_KEYS.map((key) => [SETTINGS[key].arg, key]));

function placeholderOf(setting: Setting<unknown>): string {
  return setting.placeholder ?? FORMATS[setting.format].placeholder;
}

function isRequired(setting: Setting<unknown>): boolean {
  return setting.default === null && setting.nullable !== true;
}

/** One line per setting, for --help and generated docs. */
export interface SchemaEntry {
  /** Key in the config file and in RbuddyConfig. */
  key: SettingKey;
  flag: string;
  env: string;
  /** Placeholder for the flag's value, e.g. HOST:PORT. */
  placeholder: string;
  format: FormatName;
  required: boolean;
  sensitive: boolean;
  /** The default for people: host:port, comma lists, "(none)"; secrets never shown. */
  defaultText: string;
  doc: string;
}

function defaultText(key: SettingKey, setting: Setting<unknown>): string {
  const value = setting.default;
  if (isRequired(setting)) return '(required)';
  if (key === 'announce') return '(see below)';
  if (key === 'config') return '(none)';
  if (setting.sensitive === true) return value === '' ? '(empty)' : '(secret)';
  if (isHostPort(value)) return formatHostPort(value);
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  if (value === '') return '(empty)';
  return String(value);
}

export function schemaEntries(): SchemaEntry[] {
  return SETTING_KEYS.map((key) => {
    const setting: Setting<unknown> = SETTINGS[key];
    return {
      key,
      flag: `--${setting.arg}`,
      env: setting.env,
      placeholder: placeholderOf(setting),
      format: setting.format,
      required: isRequired(setting),
      sensitive: setting.sensitive === true,
      defaultText: defaultText(key, setting),
      doc: setting.doc,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Command line

interface ParsedArgs {
  help: boolean;
  /** Flag values as given (strings), keyed by setting. */
  values: Map<SettingKey, string>;
  /** The first problem; parsing goes on so that --help is still seen after a bad flag. */
  error: ConfigError | undefined;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function suggest(name: string, candidates: readonly string[], render: (c: string) => string) {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of candidates) {
    const distance = levenshtein(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? '' : ` (did you mean ${render(best)}?)`;
}

/**
 * convict would hand argv to yargs-parser, which ignores unknown flags and turns `--group 0x1F`
 * into 31 and `--channel 1.50` into 1.5. We parse flags ourselves (strictly: every flag known,
 * every value present) and apply them with convict's set(), which runs the same coercion.
 *
 * `--flag value` and `--flag=value`; boolean flags are `--flag` or `--flag=true|false` (a bare
 * word after a boolean flag is an error, not its value). A value may start with "-" (`-5` must
 * reach the validator to be called negative), but not with "--". Repeated list flags
 * (--webhook, --publish, --http-allowed-hosts) accumulate; any other repeated flag keeps its last value.
 */
function parseArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { help: false, values: new Map(), error: undefined };
  const fail = (message: string, key?: string): void => {
    parsed.error ??= new ConfigError(message, key);
  };
  for (let i = 0; i < argv.length; i += 1) {
    const token = argv[i] ?? '';
    if (token === '--help' || token === '-h') {
      parsed.help = true;
      continue;
    }
    if (!token.startsWith('--') || token === '--') {
      if (token.startsWith('-') && token.length > 1) {
        fail(`unknown option ${token} (options are long, e.g. --master; see --help)`, token);
      } else {
        fail(`unexpected argument ${JSON.stringify(token)} (every setting is a --flag)`);
      }
      continue;
    }
    const equals = token.indexOf('=');
    const name = equals === -1 ? token.slice(2) : token.slice(2, equals);
    const key = KEY_BY_FLAG.get(name);
    if (key === undefined) {
      const hint = suggest(name, [...KEY_BY_FLAG.keys()], (flag) => `--${flag}`);
      fail(`unknown option --${name}${hint}`, `--${name}`);
      continue;
    }
    const setting: Setting<unknown> = SETTINGS[key];
    let value: string;
    if (equals !== -1) {
      value = token.slice(equals + 1);
    } else if (setting.format === 'boolean-flag') {
      value = 'true';
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) {
        fail(
          `unexpected argument ${JSON.stringify(next)} after --${name} (write --${name}=false to turn it off)`,
          key,
        );
        i += 1;
      }
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        fail(`option --${name} needs a value: --${name} ${placeholderOf(setting)}`, key);
        continue;
      }
      value = next;
      i += 1;
    }
    const previous = parsed.values.get(key);
    const isList =
      setting.format === 'url-list' ||
      setting.format === 'host-list' ||
      setting.format === 'publish-targets';
    parsed.values.set(key, isList && previous !== undefined ? `${previous},${value}` : value);
  }
  return parsed;
}

/** Whether argv asks for --help / -h (even next to bad flags: help wins). */
export function isHelpRequested(argv: readonly string[]): boolean {
  return parseArgs(argv).help;
}

// ---------------------------------------------------------------------------------------------
// Config file

type FileType = FormatSpec['fileTypes'][number];

function jsonType(value: unknown): FileType | 'other' {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (isStringArray(value)) return 'string-array';
  return 'other';
}

const FILE_TYPE_WORDS: Record<FileType, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  'string-array': 'an array of strings',
};

/**
 * JSON.parse's messages quote the text around the error (`Unexpected token 'h', "hunter2" is not
 * valid JSON`), which may be a password: keep only the kind of error and where it is.
 */
function describeJsonError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(message);
  let what = message
    .replace(/,\s*(?:\.\.\.)?".*$/s, '')
    .replace(/^Unexpected token '.*?'/, 'unexpected token')
    .replace(/\s*in JSON at position \d+.*$/s, '')
    .replace(/\s*at position \d+.*$/s, '')
    .trim();
  if (what === '' || what.includes('"')) what = 'syntax error';
  what = what.charAt(0).toLowerCase() + what.slice(1);
  if (position === null) return what;
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${what} at line ${line}, column ${column}`;
}

function readConfigFile(path: string, source: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'read error');
    throw new ConfigError(`cannot read config file ${path} (from ${source}): ${reason}`, 'config', {
      cause: error,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${path} is not valid JSON: ${describeJsonError(error, text)}`,
      'config',
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`, 'config');
  }
  const entries = Object.entries(data as Record<string, unknown>);

  const unknown = entries
    .map(([key]) => key)
    .filter((key) => key === 'config' || !(SETTING_KEYS as string[]).includes(key));
  if (unknown.includes('config')) {
    throw new ConfigError(
      `setting "config" cannot be given inside config file ${path} (use --config or RBUDDY_CONFIG)`,
      'config',
    );
  }
  const first = unknown[0];
  if (first !== undefined) {
    // Someone may write the flag or env name ("grace-ms", "RBUDDY_GRACE_MS") instead of the key.
    const byAlias = SETTING_KEYS.find(
      (key) => SETTINGS[key].arg === first || SETTINGS[key].env === first,
    );
    const hint =
      byAlias !== undefined
        ? ` (did you mean "${byAlias}"?)`
        : suggest(first, SETTING_KEYS, (key) => `"${key}"`);
    const more = unknown.length > 1 ? ` (and ${unknown.length - 1} more unknown)` : '';
    throw new ConfigError(`unknown setting "${first}" in config file ${path}${hint}${more}`, first);
  }

  for (const [key, value] of entries) {
    const setting: Setting<unknown> = SETTINGS[key as SettingKey];
    const allowed = FORMATS[setting.format].fileTypes;
    const type = jsonType(value);
    const nullOk = value === null && setting.nullable === true;
    if (!nullOk && (type === 'other' || !allowed.includes(type))) {
      const words = allowed.map((t) => FILE_TYPE_WORDS[t]).join(' or ');
      throw new ConfigError(
        `invalid setting "${key}" in config file ${path}: must be ${words}`,
        key,
      );
    }
  }
  return Object.fromEntries(entries);
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadConfigOptions {
  argv: readonly string[];
  env: Record<string, string | undefined>;
}

const MAX_ECHO_LENGTH = 80;

function echo(value: unknown): string {
  const text = isHostPort(value) ? formatHostPort(value) : value;
  const json = JSON.stringify(text) ?? String(text);
  return json.length > MAX_ECHO_LENGTH ? `${json.slice(0, MAX_ECHO_LENGTH)}...` : json;
}

/** Each entry names a configured replica, and no user serves two replicas. */
function checkReplicaCredentials(settings: Settings): void {
  const replicas = [formatHostPort(settings.active), formatHostPort(settings.standby)];
  const users = new Set<string>();
  settings.replicaCredentials.forEach((entry, index) => {
    const credential = parseReplicaCredential(entry);
    if (credential === undefined) return;
    const which = ordinal(index, settings.replicaCredentials.length);
    if (!replicas.includes(formatHostPort(credential.node))) {
      throw new ConfigError(
        `invalid setting "replicaCredentials": ${which} names ${formatHostPort(credential.node)}, which is neither --active nor --standby`,
        'replicaCredentials',
      );
    }
    if (users.has(credential.user)) {
      throw new ConfigError(
        `invalid setting "replicaCredentials": ${which} reuses user "${credential.user}": each replica needs a user of its own`,
        'replicaCredentials',
      );
    }
    users.add(credential.user);
  });
}

function loopbackFor(listen: HostPort): HostPort {
  if (listen.host === '0.0.0.0') return { host: '127.0.0.1', port: listen.port };
  // Any spelling of the IPv6 wildcard ("::", "0::0"...) normalises to "[::]".
  if (isIPv6(listen.host) && new URL(`http://[${listen.host}]/`).hostname === '[::]') {
    return { host: '::1', port: listen.port };
  }
  return listen;
}

/**
 * Builds the validated configuration from defaults, the --config file, env and flags. Throws
 * ConfigError (code RBUDDY_ERR_CONFIG) with one line naming the setting; several problems with
 * values are joined with "; " so that they can be fixed in one go.
 */
export function loadConfig(options: LoadConfigOptions): RbuddyConfig {
  const { env } = options;
  const args = parseArgs(options.argv);
  if (args.error !== undefined) throw args.error;

  // args: [] keeps convict away from process.argv (an empty array is truthy in its `||`).
  const store = convict<Settings>(SETTINGS, { env, args: [] });

  const fromFlag = args.values.get('config');
  const fromEnv = env[SETTINGS.config.env];
  let configPath: string | undefined;
  let configSource = '';
  if (fromFlag !== undefined && fromFlag !== '') {
    configPath = fromFlag;
    configSource = '--config';
  } else if (fromFlag === undefined && fromEnv !== undefined && fromEnv !== '') {
    configPath = fromEnv;
    configSource = SETTINGS.config.env;
  }
  let fileKeys = new Set<string>();
  if (configPath !== undefined) {
    const data = readConfigFile(configPath, configSource);
    fileKeys = new Set(Object.keys(data));
    // load() overlays the file, then re-applies the environment on top: file < env.
    store.load(data);
  }
  for (const [key, value] of args.values) {
    store.set(key, value);
  }

  const sourceOf = (key: SettingKey): string => {
    const setting = SETTINGS[key];
    if (args.values.has(key)) return `--${setting.arg}`;
    if (env[setting.env] !== undefined) return setting.env;
    if (fileKeys.has(key)) return `config file ${configPath ?? ''}`;
    return 'the default';
  };

  // convict's getProperties() is typed as the finished shape, but until the checks below pass
  // the values are whatever the sources held.
  const raw = store.getProperties() as unknown as Record<SettingKey, unknown>;
  const problems: ConfigError[] = [];
  for (const key of SETTING_KEYS) {
    const setting: Setting<unknown> = SETTINGS[key];
    const value = raw[key];
    if (value === null || value === undefined) {
      if (setting.nullable === true) continue;
      problems.push(
        new ConfigError(
          `missing required setting "${key}": give --${setting.arg} ${FORMATS[setting.format].placeholder.toLowerCase()} or ${setting.env}`,
          key,
        ),
      );
      continue;
    }
    const format = FORMATS[setting.format];
    try {
      format.validate(value);
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      const got = format.echo && setting.sensitive !== true ? `, got ${echo(value)}` : '';
      problems.push(
        new ConfigError(`invalid setting "${key}" from ${sourceOf(key)}: ${problem}${got}`, key),
      );
    }
  }
  const first = problems[0];
  if (first !== undefined) {
    if (problems.length === 1) throw first;
    throw new ConfigError(problems.map((p) => p.message).join('; '), first.key);
  }

  // Backstop: convict's own checks (strict: undeclared keys). Everything it checks was checked
  // above, so this only fires on a bug here; keep its first line, which names the key.
  try {
    store.validate({ allowed: 'strict', output: () => undefined });
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
    throw new ConfigError(`invalid configuration: ${message}`, undefined, { cause: error });
  }

  const settings = store.getProperties();
  checkReplicaCredentials(settings);
  const config: RbuddyConfig & { config?: string } = {
    ...settings,
    announce: settings.announce ?? loopbackFor(settings.listen),
  };
  // The file path was only needed to load the file; the rest of the program never sees it.
  delete config.config;
  return config;
}

// ---------------------------------------------------------------------------------------------
// Presentation

export const REDACTED = '[redacted]';

/** Webhook URLs often carry a token in the path or query: keep only scheme, host and port. */
function redactWebhookUrl(text: string): string {
  const url = parseUrl(text);
  if (url === undefined) return REDACTED;
  const hidden = url.pathname !== '/' || url.search !== '' || url.username !== '';
  return hidden ? `${url.protocol}//${url.host}/${REDACTED}` : `${url.protocol}//${url.host}/`;
}

/** redis://user:password@host: hide the password (and any query, which can hold one too). */
function redactPublishTarget(text: string): string {
  const url = parseUrl(text);
  if (url === undefined) return text === 'replicas' || text === 'none' ? text : REDACTED;
  // Built by hand: assigning url.password would percent-encode the brackets of "[redacted]".
  const user = url.username === '' && url.password === '' ? '' : url.username;
  const auth = url.password === '' ? user : `${user}:${REDACTED}`;
  const query = url.search === '' ? '' : `?${REDACTED}`;
  return `${url.protocol}//${auth === '' ? '' : `${auth}@`}${url.host}${url.pathname}${query}`;
}

/**
 * The configuration as it may be logged: sensitive settings replaced by "[redacted]" (when set;
 * an empty one stays empty so that "no password configured" is visible), credentials in URLs
 * hidden, addresses as host:port.
 */
export function redactedConfig(config: RbuddyConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const key of SETTING_KEYS) {
    const setting: Setting<unknown> = SETTINGS[key];
    const value = out[key];
    const empty =
      value === '' || value === undefined || (Array.isArray(value) && value.length === 0);
    if (setting.sensitive === true && !empty) {
      out[key] = REDACTED;
    } else if (isHostPort(value)) {
      out[key] = formatHostPort(value);
    }
  }
  out.webhook = config.webhook.map(redactWebhookUrl);
  out.publish = config.publish.map(redactPublishTarget);
  return out;
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/** `rbuddy --help`, generated from the schema so that it lists every setting. */
export function formatHelp(): string {
  const width = 100;
  const indent = '      ';
  const lines = [
    'Usage: rbuddy --master HOST:PORT --active HOST:PORT --standby HOST:PORT [options]',
    '',
    ...wrap(
      'Replication proxy for Redis: keeps the replica your applications read serving while a standby takes the full resync.',
      width,
      '',
    ),
    '',
    ...wrap(
      'Every setting is a flag, an environment variable, or a key in the JSON file named by --config. Precedence: defaults < config file < environment < flags. Give secrets in the environment: flags show up in ps.',
      width,
      '',
    ),
    '',
    'Options:',
    '  -h, --help',
    `${indent}Print this help and exit.`,
  ];
  for (const entry of schemaEntries()) {
    const value = entry.format === 'boolean-flag' ? entry.placeholder : ` ${entry.placeholder}`;
    const where =
      entry.key === 'config'
        ? `env ${entry.env}`
        : `env ${entry.env}; file key "${entry.key}"${entry.sensitive ? '; secret' : ''}`;
    const fallback = entry.required ? 'required' : `default ${entry.defaultText}`;
    lines.push('', `  ${entry.flag}${value}`, `${indent}${where}; ${fallback}`);
    lines.push(...wrap(entry.doc, width, indent));
  }
  lines.push(
    '',
    'Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 on a failure, 2 on bad configuration.',
    '',
  );
  return lines.join('\n');
}
