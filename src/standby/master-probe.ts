// The master health probe: PING over its own connection every --probe-interval-ms, each with
// --probe-timeout-ms. --probe-failures failures in a row mean the master is lost; while it is
// lost, the probe backs off (up to 5 intervals) so a dead master is not hammered.
//
// The probe owns its connection's life, not ioredis: a PING that timed out or failed for want of
// a connection drops the connection, and the next probe opens a fresh one (connect bounded by the
// probe's timeout, paced by the probe's backoff). A connection kept after such a failure is only
// as good as ioredis's recovery, and that is not enough: its command timeout never drops a silent
// connection (`Command.setTimeout` only rejects the command), and with the ready check off (as
// here) a connection lost during its handshake (CLIENT SETNAME, CLIENT SETINFO) leaves the client
// "ready" on a closed socket and never reconnecting (`connectHandler` in ioredis's
// redis/event_handler.js calls readyHandler without checking the connection epoch): every later
// PING waits in its offline queue and times out, and the master stays "lost" however healthy it
// is, and each completed failover is followed by another one.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { HostPort } from '../config/types.js';
import type { MasterHealth } from './ports.js';
import { createControlClient, type ControlTls } from '../nodes/control-client.js';
import { asString } from '../nodes/replies.js';
import { countKeys, parseInfo } from './node-ops.js';

export interface MasterProbeOptions {
  master: HostPort;
  auth: { user: string; password: string } | undefined;
  /** TLS to the master (--master-tls); a failed handshake's reason shows in lastError. */
  tls?: ControlTls;
  intervalMs: number;
  timeoutMs: number;
  failures: number;
  connectTimeoutMs: number;
  logger: Logger;
  onChange: (up: boolean, error: string | undefined) => void;
}

export class MasterProbe implements MasterHealth {
  private readonly options: MasterProbeOptions;
  /** The current connection; undefined until the next probe opens one. */
  private client: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failuresInRow = 0;
  private isUp = true;
  private lastErrorText: string | undefined;

  constructor(options: MasterProbeOptions) {
    this.options = options;
  }

  get up(): boolean {
    return this.isUp;
  }

  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  get consecutiveFailures(): number {
    return this.failuresInRow;
  }

  start(): void {
    this.schedule(0);
  }

  /**
   * Drops the connection; the next probe opens a new one. After a reload of the master's TLS
   * material the probe must meet what a new replication session meets: a connection that stays
   * up would go on vouching for the master with the old material (a new CA, a changed servername,
   * a master whose certificate no longer verifies).
   */
  reconnect(): void {
    if (this.stopped) return;
    this.drop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.drop();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.probe(), delayMs);
  }

  private connection(): Redis {
    if (this.client !== undefined) return this.client;
    const { options } = this;
    const auth = options.auth ?? { user: '', password: '' };
    this.client = createControlClient({
      endpoint: { address: options.master, user: auth.user, password: auth.password },
      connectionName: 'rbuddy-probe',
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      // A connect attempt is part of a probe: it may not outlast the probe's own timeout by much.
      connectTimeoutMs: Math.min(options.connectTimeoutMs, Math.max(options.timeoutMs, 100)),
      commandTimeoutMs: options.timeoutMs,
      // A PING in flight when the connection drops fails at once: that is a failed probe, not a
      // command to send again on the next connection.
      retriesPerCommand: 0,
      // ioredis's ready check would wait out a loading master (up to maxLoadingRetryTime, 10 s)
      // before answering anything: the probe's own PING is the check, -LOADING counts as down.
      readyCheck: false,
      // No reconnect by ioredis: a lost connection is dropped and the next probe opens another.
      reconnect: () => false,
      // Connects on the first PING: a probe that is built but never started opens nothing.
      lazyConnect: true,
      // Failures are what the probe reports (onChange, lastError), not a log line per attempt.
      onError: () => undefined,
    });
    return this.client;
  }

  async keys(): Promise<number | undefined> {
    if (this.stopped || !this.isUp) return undefined;
    try {
      const info = await this.connection().call('INFO', 'keyspace');
      return countKeys(parseInfo(asString(info, 'INFO keyspace')));
    } catch {
      return undefined;
    }
  }

  /** Closes the current connection at once (replies still due are not awaited). */
  private drop(): void {
    const client = this.client;
    this.client = undefined;
    client?.disconnect();
  }

  private async probe(): Promise<void> {
    const client = this.connection();
    try {
      await client.ping();
      this.failuresInRow = 0;
      this.lastErrorText = undefined;
      if (!this.isUp) {
        this.isUp = true;
        this.options.onChange(true, undefined);
      }
    } catch (error) {
      // A reply (-LOADING, -NOAUTH …) came over a working connection; anything else (a timeout,
      // a connection closed or refused) leaves it suspect: the next probe starts afresh.
      if (!isReply(error) && this.client === client) this.drop();
      this.failuresInRow += 1;
      this.lastErrorText = error instanceof Error ? error.message : String(error);
      if (this.isUp && this.failuresInRow >= this.options.failures) {
        this.isUp = false;
        this.options.logger.warn(
          { failures: this.failuresInRow, err: this.lastErrorText },
          'master health probe failed',
        );
        this.options.onChange(false, this.lastErrorText);
      }
    }
    const beyond = Math.max(0, this.failuresInRow - this.options.failures);
    this.schedule(this.options.intervalMs * Math.min(5, 2 ** beyond));
  }
}

/** An error reply of the master's own (redis-parser's ReplyError), not a failed connection. */
function isReply(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}
