// Every connection rbuddy opens as a Redis client — the control connections to the replicas
// (INFO, ROLE, REPLICAOF, CONFIG SET …), the master health probe, the --publish targets — is
// built here, so that what they share is decided once: a connect timeout, a timeout on every
// command (a node that stops answering must not stall the failover), reconnects paced by a
// RetryPolicy, credentials only when there are some, and an 'error' listener on every client
// (ioredis emits 'error' on each failed connect; unheard, it would crash the process). TLS too:
// the material current at each (re)connect, and a failed handshake's reason in the error of every
// command that fails for it (ioredis itself only says "Connection is closed" or "Command timed out").
// A command issued while disconnected waits in the offline queue for the next connection, until
// its command timeout at most: a command that failed (timed out, or rejected with its
// connection) is never written afterwards — its caller was told it did not run and decided
// again, and a FLUSHALL or REPLICAOF run later, behind that decision, is not harmless. With a
// fence (`mayAct`), a command issued while it held is written only while it still holds.
// And a connection that let a command time out is dropped and made again: ioredis's command
// timeout only rejects the command (`Command.setTimeout`), so a silent connection (bytes lost on
// the way, no FIN, no RST: a path that lost its state) would time out every command until the
// kernel gives up on it, many minutes later, while a new connection would work at once.
import type { ConnectionOptions } from 'node:tls';
import { Redis, type Command, type RedisOptions } from 'ioredis';
import type { HostPort } from '../config/types.js';
import { NotLeaderError } from '../errors.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';
import { ioredisTlsOptions } from '../tls/client-tls-options.js';
import type { TlsMaterialSource } from '../tls/reloadable-tls.js';
import { describeTlsFailure } from '../tls/tls-failure.js';

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
  /** ioredis's CLIENT SETINFO on each connection (the library's name and version). Default true. */
  clientInfo?: boolean;
  /** Every 'error' event (failed connects, lost connections). Default: ignored. */
  onError?: (error: Error) => void;
  /**
   * TLS for an address, or for a rediss:// URL (a redis:// URL stays plain): the server must
   * chain to the material's CA and carry `servername` (default: the host it is reached at).
   */
  tls?: ControlTls;
  /**
   * The fence of a group's leader (docs/design.md, "High availability"): a command issued while
   * it holds (the caller checked it just before) and not written at once — it waited for a
   * connection, or is sent again on a new one — is written only if it still holds, else fails
   * with NotLeaderError. Commands issued while it does not hold (a follower's reads) are not
   * fenced. Default: none.
   */
  mayAct?: () => boolean;
}

export interface ControlTls {
  source: TlsMaterialSource;
  servername?: string;
  /** Verify the server's chain but not its name (client-tls-options.ts). */
  anyName?: boolean;
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
    // commandTimeout (ioredis arms the timer when the command is issued; ControlRedis keeps a
    // command that failed from being written when the connection comes).
    enableOfflineQueue: true,
    enableReadyCheck: options.readyCheck ?? true,
    lazyConnect: options.lazyConnect ?? false,
    disableClientInfo: options.clientInfo === false,
    connectionName: options.connectionName,
    retryStrategy: retryStrategy(reconnect),
  };
  const { endpoint } = options;
  const tls = tlsFor(endpoint, options.tls);
  const client =
    'url' in endpoint
      ? new ControlRedis(endpoint.url, { ...shared, ...(tls === undefined ? {} : { tls }) })
      : new ControlRedis({
          ...shared,
          host: endpoint.address.host,
          port: endpoint.address.port,
          ...(endpoint.user === '' ? {} : { username: endpoint.user }),
          ...(endpoint.password === '' ? {} : { password: endpoint.password }),
          ...(tls === undefined ? {} : { tls }),
        });
  if (tls !== undefined || ('url' in endpoint && isRedissUrl(endpoint.url)))
    client.explainFailures();
  if (options.mayAct !== undefined) client.fence(options.mayAct);
  const onError = options.onError ?? ((): void => undefined);
  client.on('error', (error: Error) => onError(error));
  return client;
}

function isRedissUrl(url: string): boolean {
  return /^rediss:\/\//i.test(url);
}

/** ioredis's `tls` option for this endpoint, or undefined for a plain connection. */
function tlsFor(
  endpoint: ControlEndpoint,
  tls: ControlTls | undefined,
): ConnectionOptions | undefined {
  if (tls === undefined) return undefined;
  let host: string;
  if ('url' in endpoint) {
    // redis:// stays plain; rediss:// without `tls` gets ioredis's default (the system CAs).
    if (!isRedissUrl(endpoint.url)) return undefined;
    host = urlHost(endpoint.url);
  } else {
    host = endpoint.address.host;
  }
  return ioredisTlsOptions(tls.source, { host, servername: tls.servername, anyName: tls.anyName });
}

/** The host of a redis(s):// URL, without the brackets of an IPv6 address. */
export function urlHost(url: string): string {
  const { hostname } = new URL(url);
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/**
 * What a failed connection attempt says, for the error of a command that failed because of it:
 * a TLS handshake failure in words, anything else as its message.
 */
export function connectFailureText(error: Error): string {
  const failure = describeTlsFailure(error, 'client');
  return failure.kind === 'other' ? error.message : `TLS: ${failure.text}`;
}

/** ioredis's message for a command that outlived commandTimeout (`Command.setTimeout`). */
const TIMED_OUT = 'Command timed out';
const ABORTED = 'Command aborted: a command before it timed out on the same connection';
const NOT_ACTING =
  'Command not written: it was issued while this instance led the group, and it no longer does';

/**
 * An ioredis client that never writes a command that already failed, drops a connection on which
 * a command timed out, may fence what it writes late, and whose failed commands can name the
 * reason the connection could not be made (while it cannot: a connection that becomes ready
 * clears it). Only TLS clients explain, so that plain connections fail exactly as before.
 */
class ControlRedis extends Redis {
  private explaining = false;
  private connectFailure: string | undefined;
  private mayAct: (() => boolean) | undefined;
  private readonly wrapped = new WeakSet<Command>();
  /** Commands rejected by their timeout: ioredis keeps them queued until a reply or a close. */
  private readonly timedOut = new WeakSet<object>();
  /** Every command that failed, for whatever reason: its caller was told. */
  private readonly failed = new WeakSet<Command>();
  /** Commands issued while `mayAct` held. */
  private readonly fenced = new WeakSet<Command>();

  fence(mayAct: () => boolean): void {
    this.mayAct = mayAct;
  }

  explainFailures(): void {
    this.explaining = true;
    this.on('error', (error: Error) => {
      this.connectFailure = connectFailureText(error);
    });
    this.on('ready', () => {
      this.connectFailure = undefined;
    });
  }

  /**
   * Called when a command is issued, and again for the same command when ioredis writes it later:
   * the offline queue sent on the next connection (ioredis sends what waits there even when it
   * timed out meanwhile: `Command.setTimeout` only rejects), or the unanswered commands of a lost
   * connection sent again on the new one.
   */
  override sendCommand(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown {
    if (this.failed.has(command)) return command.promise;
    if (!this.wrapped.has(command)) {
      this.wrapped.add(command);
      if (this.mayAct?.() === true) this.fenced.add(command);
      const reject = command.reject;
      command.reject = (error: Error) => {
        this.failed.add(command);
        reject(this.explained(error));
        if (error.message === TIMED_OUT) {
          this.timedOut.add(command);
          this.dropSilentConnection(command);
        }
      };
    } else if (this.fenced.has(command) && this.mayAct?.() !== true) {
      // Written at the first call it would have been checked just before; written now, the fence
      // may have fallen in between (the wait is as long as the command timeout, which may exceed
      // the margin the renew deadline keeps before the lease can expire: lease-timing.ts).
      command.reject(new NotLeaderError(NOT_ACTING));
      return command.promise;
    }
    return super.sendCommand(command, stream);
  }

  private explained(error: Error): Error {
    const why = this.connectFailure;
    if (!this.explaining || why === undefined || error.message.includes(why)) return error;
    return new Error(`${error.message} (the connection failed: ${why})`, { cause: error });
  }

  /**
   * `timedOut` was written on the current connection and got no reply in time: the connection is
   * destroyed, and ioredis reconnects at the RetryPolicy's pace. Nothing in flight on it is sent
   * again (ioredis resends a lost connection's unanswered commands on the next one): its bytes
   * may sit in the server's buffers and run anyway, and a FLUSHALL or REPLICAOF run twice is not
   * harmless. What has not timed out yet fails now; the caller decides again.
   */
  private dropSilentConnection(timedOut: Command): void {
    const waiting = this.commandQueue.toArray();
    if (!waiting.some((item) => item.command === timedOut)) return;
    this.commandQueue.clear();
    for (const item of waiting) {
      if (!this.timedOut.has(item.command)) item.command.reject(new Error(ABORTED));
    }
    this.stream.destroy();
  }
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
