// The Redis processes one benchmark run uses, started with harness/redis-server.ts.
import type { Redis } from 'ioredis';
import type { RedisServer } from '../harness/redis-server.js';
import type { Endpoint } from './links.js';
import type { BenchTls } from './tls.js';

export interface BenchNodes {
  master: RedisServer;
  /** The replica being measured; the proxy is configured with it as the active. */
  replica: RedisServer;
  /**
   * The proxy's configured standby: an address nobody listens on. With its standby unreachable
   * on first start, the failover engine stays `degraded` and never sends REPLICAOF itself
   * (decideSteady in src/standby/decide.ts), so the replica is pointed by the bench alone and
   * the proxy is measured as a relay.
   */
  standbyAddress: string;
  masterClient: Redis;
  replicaClient: Redis;
  /** The TLS part: replication runs over TLS on every hop (tls.ts); the clients stay plain. */
  tls?: BenchTls;
}

/** Where a replica following the master directly points: its TLS port in the TLS part. */
export function replicationEndpoint(nodes: Pick<BenchNodes, 'master' | 'tls'>): Endpoint {
  const { master, tls } = nodes;
  return { host: master.host, port: tls === undefined ? master.port : tls.masterTlsPort };
}
