// The shape of rbuddy's validated configuration, as the rest of the program sees it.
// load.ts builds it from the convict schema in schema.ts (defaults < --config file < env < flags).

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port", with IPv6 hosts in brackets ("[::1]:6379"). */
export function formatHostPort(address: HostPort): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

export type GuardEmpty = 'hold' | 'switch';

/** Client certificates on the TLS listener, as Redis's tls-auth-clients. */
export type TlsAuthClients = 'yes' | 'no' | 'optional';

/**
 * TLS on each hop (docs/operations.md, "TLS"). Empty file paths mean "not given"; each hop's
 * material is loaded (and reloaded on SIGHUP or a file change) by src/tls.
 */
export interface TlsConfig {
  /** A TLS RESP listener beside (or instead of) --listen; null: none. */
  tlsListen: HostPort | null;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsCaCertFile: string;
  tlsAuthClients: TlsAuthClients;
  /** Certificate patterns (cn:, dns:, ip:, uri:) of each replica; empty: its configured host. */
  activeTlsIdentity: string[];
  standbyTlsIdentity: string[];
  masterTls: boolean;
  masterTlsCaCertFile: string;
  masterTlsCertFile: string;
  masterTlsKeyFile: string;
  /** The name the master's certificate must carry; empty: the --master host. */
  masterTlsServername: string;
  replicaTls: boolean;
  replicaTlsCaCertFile: string;
  replicaTlsCertFile: string;
  replicaTlsKeyFile: string;
  httpTlsCertFile: string;
  httpTlsKeyFile: string;
}

/** Several instances per group on etcd (docs/design.md, "High availability"). */
export interface EtcdConfig {
  /** Endpoints (`http(s)://host:port`); empty: no etcd, one process on its state dir. */
  etcd: string[];
  /** The leader's lease, whole seconds in milliseconds. */
  etcdLeaseMs: number;
  /** Keys live under `<etcdPrefix>/<group>/`. */
  etcdPrefix: string;
  etcdUser: string;
  etcdPassword: string;
  etcdTlsCaCertFile: string;
  etcdTlsCertFile: string;
  etcdTlsKeyFile: string;
  /** Check that the --announce reaches this instance before campaigning (announce-check.ts). */
  announceCheck: boolean;
}

export interface RbuddyConfig extends TlsConfig, EtcdConfig {
  master: HostPort;
  masterUser: string;
  masterPassword: string;
  active: HostPort;
  standby: HostPort;
  replicaUser: string;
  replicaPassword: string;
  /** The plain RESP listener; null (`none`) when only --tls-listen serves. */
  listen: HostPort | null;
  listenPassword: string;
  /** USER:PASSWORD@HOST:PORT entries: each replica's own credentials on the RESP listener. */
  replicaCredentials: string[];
  /** Redis's protected-mode: see src/proxy/admission.ts. */
  protectedMode: boolean;
  /** Connections on the RESP listener at most (replication sessions excluded). */
  maxClients: number;
  /** Deadline for a new RESP connection to authenticate, or to send a valid command. */
  authTimeoutMs: number;
  /** Address the replicas are told to REPLICAOF; defaults to `tlsListen`, else `listen`. */
  announce: HostPort;
  http: HostPort;
  httpToken: string;
  httpAuthReads: boolean;
  /** Extra Host names the unauthenticated GETs answer to (DNS rebinding guard). */
  httpAllowedHosts: string[];
  httpMaxConnections: number;
  /** Time a client has to send a whole request (headers and body). */
  httpRequestTimeoutMs: number;
  stateDir: string;
  graceMs: number;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  probeFailures: number;
  drainMs: number;
  syncTimeoutMs: number;
  guardEmpty: GuardEmpty;
  /** Hold when the synced standby has fewer keys than this share of the active's; 0: never. */
  guardShrink: number;
  initFlushStandby: boolean;
  webhook: string[];
  webhookSecret: string;
  /** Timeout for one webhook POST (connect, send and the response headers). */
  webhookTimeoutMs: number;
  /** 'replicas', 'none', or redis:// URLs. */
  publish: string[];
  channel: string;
  group: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Like Redis's repl-timeout: a peer that does not drain or speak for this long is dropped. */
  replTimeoutMs: number;
  /** TCP connect timeout for every connection the proxy opens. */
  connectTimeoutMs: number;
  /** Timeout for every command the proxy sends on its control connections. */
  commandTimeoutMs: number;
}
