// Every connection rbuddy opens as a Redis client — the control connections to the replicas
// (INFO, ROLE, REPLICAOF, CONFIG SET …), the master health probe, the --publish targets — is
// built here, so that what they share is decided once: a connect timeout, a timeout on every
// command (a node that stops answering must not stall the failover), reconnects paced by a
// RetryPolicy, commands issued while disconnected waiting in the offline queue (bounded by the
// command timeout), credentials only when there are some, and an 'error' listener on every client
// (ioredis emits 'error' on each failed connect; unheard, it would crash the process). Transport
// options that every control connection must share (TLS) belong in this file too.
import { Redis, type RedisOptions } from 'ioredis';
import type { HostPort } from '../config/types.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';

/** Where to connect: an address with the configured credentials, or a redis:// or rediss:// URL. */
export type ControlEndpoint =
  | { address: HostPort; user: string; password: string }
  /** Credentials, database and TLS (rediss://) as the URL says, parsed by ioredis. */
  | { url: string };

export interface ControlClientOptions {
  endpoint: ControlEndpoint;
  /** CLIENT SETNAME: tells an operator's CLIENT LIST which of rbuddy's connections this is. */
  connectionName: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Delay before each reconnect; false stops reconnecting. Default: DEFAULT_RECONNECT. */
  reconnect?: RetryPolicy;
  /**
   * Reconnects a command in flight survives before it fails. Default 1: it is sent again on the
   * next connection, still within its command timeout.
   */
  retriesPerCommand?: number;
  /** ioredis's INFO check before the client counts as ready. Default true. */
  readyCheck?: boolean;
  /** Connect on the first command or connect() instead of at once. Default false. */
  lazyConnect?: boolean;
  /** Every 'error' event (failed connects, lost connections). Default: ignored. */
  onError?: (error: Error) => void;
}

/** Reconnects of the control connections: from 200 ms, doubling, at most 10 s apart, forever. */
const DEFAULT_RECONNECT: RetryPolicy = exponentialBackoff({ baseMs: 200, maxMs: 10_000 });

export function createControlClient(options: ControlClientOptions): Redis {
  const reconnect = options.reconnect ?? DEFAULT_RECONNECT;
  const shared: RedisOptions = {
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: options.retriesPerCommand ?? 1,
    // A command issued while disconnected waits for the next connection, but never longer than
    // commandTimeout (ioredis arms the timer when the command is issued).
    enableOfflineQueue: true,
    enableReadyCheck: options.readyCheck ?? true,
    lazyConnect: options.lazyConnect ?? false,
    connectionName: options.connectionName,
    retryStrategy: retryStrategy(reconnect),
  };
  const { endpoint } = options;
  const client =
    'url' in endpoint
      ? new Redis(endpoint.url, shared)
      : new Redis({
          ...shared,
          host: endpoint.address.host,
          port: endpoint.address.port,
          ...(endpoint.user === '' ? {} : { username: endpoint.user }),
          ...(endpoint.password === '' ? {} : { password: endpoint.password }),
        });
  const onError = options.onError ?? ((): void => undefined);
  client.on('error', (error: Error) => onError(error));
  return client;
}

/**
 * A RetryPolicy as ioredis's retryStrategy: ioredis counts reconnects from 1 where a policy
 * counts attempts from 0, and stops on null where a policy answers false.
 */
export function retryStrategy(policy: RetryPolicy): (times: number) => number | null {
  return (times) => {
    const delay = policy(times - 1, undefined);
    return delay === false ? null : delay;
  };
}
