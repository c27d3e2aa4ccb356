// The `--publish` channel (docs/design.md, "Notifications"): PUBLISH each event's JSON on
// `--channel` to Redis servers — `replicas` (both configured replicas, over the existing control
// connections) and redis:// or rediss:// URLs (a client of our own each). deliver() only
// enqueues: the failover never waits for a subscriber's server. Each target has its own queue,
// drained in order (subscribers see events in the order they happened), with a bounded number of
// jittered retries; a target that is down stalls only its own queue, and its failures are counted
// in the metrics.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NotificationChannel, NotificationResult } from './events.js';
import { createControlClient, type ControlTls } from '../nodes/control-client.js';
import type { NodeClients } from '../nodes/node-client.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';
import type { EventSink, RbuddyEvent } from './events.js';

/** What a target needs: one PUBLISH with a timeout (the client's commandTimeout). */
export interface PublishClient {
  publish(channel: string, message: string): Promise<number>;
}

export interface PublishTarget {
  /** For logs and metrics: never contains a password. */
  name: string;
  client(): PublishClient;
  close?(): void | Promise<void>;
}

export interface PublisherOptions {
  targets: PublishTarget[];
  channel: string;
  logger: Logger;
  /** Counts each attempt's outcome (the metrics' `publish` channel). */
  record?: (channel: NotificationChannel, result: NotificationResult) => void;
  /** Retries of one event to one target; gives up (dropped) when it answers false. */
  retry?: RetryPolicy;
  /** Events waiting per target beyond this are dropped, oldest first (a target down for long). */
  maxQueue?: number;
}

/** One `--publish` target as /v1/status shows it (beside the webhooks). */
export interface PublishTargetStatus {
  /** `replicas`' nodes by address, URLs without credentials. */
  target: string;
  pending: number;
  lastSuccess: string | null;
  /** `<time> <reason>` of the last failed attempt, or null. */
  lastError: string | null;
}

interface TargetQueue {
  target: PublishTarget;
  pending: RbuddyEvent[];
  draining: boolean;
  lastSuccess: string | null;
  lastError: string | null;
}

export class Publisher implements EventSink {
  private readonly queues: TargetQueue[];
  private readonly retry: RetryPolicy;
  private readonly maxQueue: number;
  private readonly log: Logger;
  private closed = false;
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(private readonly options: PublisherOptions) {
    this.queues = options.targets.map((target) => ({
      target,
      pending: [],
      draining: false,
      lastSuccess: null,
      lastError: null,
    }));
    this.retry = options.retry ?? exponentialBackoff({ baseMs: 250, maxMs: 5000, maxAttempts: 5 });
    this.maxQueue = options.maxQueue ?? 1000;
    this.log = options.logger.child({ component: 'publisher' });
  }

  get targetNames(): string[] {
    return this.queues.map((queue) => queue.target.name);
  }

  status(): PublishTargetStatus[] {
    return this.queues.map((queue) => ({
      target: queue.target.name,
      pending: queue.pending.length,
      lastSuccess: queue.lastSuccess,
      lastError: queue.lastError,
    }));
  }

  deliver(event: RbuddyEvent): void {
    if (this.closed) return;
    for (const queue of this.queues) {
      queue.pending.push(event);
      if (queue.pending.length > this.maxQueue) {
        const dropped = queue.pending.shift();
        this.record('dropped');
        this.log.warn(
          { target: queue.target.name, event: dropped?.id },
          'publish queue full: dropped the oldest event',
        );
      }
      if (!queue.draining) void this.drain(queue);
    }
  }

  /** Stops retrying and closes the clients this publisher opened (not the control connections). */
  async close(): Promise<void> {
    this.closed = true;
    for (const sleep of this.sleeps) {
      clearTimeout(sleep.timer);
      sleep.resolve();
    }
    this.sleeps.clear();
    for (const queue of this.queues) await queue.target.close?.();
  }

  private async drain(queue: TargetQueue): Promise<void> {
    queue.draining = true;
    try {
      while (!this.closed && queue.pending.length > 0) {
        const event = queue.pending[0];
        if (event === undefined) break;
        await this.publishWithRetries(queue, event);
        // The event may have been dropped from a full queue meanwhile: remove it only if first.
        if (queue.pending[0] === event) queue.pending.shift();
      }
    } finally {
      queue.draining = false;
    }
  }

  private async publishWithRetries(queue: TargetQueue, event: RbuddyEvent): Promise<void> {
    const { target } = queue;
    const message = JSON.stringify(event);
    for (let attempt = 0; !this.closed; attempt += 1) {
      try {
        await target.client().publish(this.options.channel, message);
        this.record('delivered');
        queue.lastSuccess = new Date().toISOString();
        return;
      } catch (error) {
        this.record('failed');
        const delay = this.retry(attempt, error);
        // Only the message: an ioredis error never carries the password, but a URL could.
        const reason = error instanceof Error ? error.message : String(error);
        queue.lastError = `${new Date().toISOString()} ${reason}`;
        if (delay === false) {
          this.record('dropped');
          this.log.warn(
            {
              target: target.name,
              event: event.id,
              type: event.type,
              attempts: attempt + 1,
              reason,
            },
            'publish failed: giving up on this event',
          );
          return;
        }
        this.log.info(
          { target: target.name, event: event.id, attempt: attempt + 1, retryInMs: delay, reason },
          'publish failed: retrying',
        );
        await this.sleep(delay);
      }
    }
  }

  private record(result: NotificationResult): void {
    this.options.record?.('publish', result);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      entry.timer.unref();
      this.sleeps.add(entry);
    });
  }
}

/** A redis:// or rediss:// URL without its password (and user), for logs and metrics. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // The query may carry credentials too (ioredis reads ?password=).
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'redis://<unparseable>';
  }
}

/**
 * The targets of `--publish`: `replicas` = both configured replicas over the existing control
 * connections (their connect and command timeouts apply), URLs = clients of our own, `none` = none.
 */
export function publishTargets(
  publish: readonly string[],
  replicas: { nodes: readonly ReplicaNode[]; clients: Pick<NodeClients, 'client'> },
  options: UrlTargetOptions,
): PublishTarget[] {
  const targets: PublishTarget[] = [];
  for (const entry of publish) {
    if (entry === 'none') continue;
    if (entry === 'replicas') {
      for (const node of replicas.nodes) {
        targets.push({ name: `replica ${node.id}`, client: () => replicas.clients.client(node) });
      }
    } else {
      targets.push(urlTarget(entry, options));
    }
  }
  return targets;
}

export interface UrlTargetOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /**
   * For rediss:// URLs: the replicas' TLS material (--replica-tls), its CA verifying the target.
   * Without it a rediss:// target is verified against the system's CAs; redis:// stays plain.
   */
  tls?: ControlTls;
  logger: Logger;
}

/** A target of our own: one ioredis client (TLS for rediss://, credentials from the URL). */
function urlTarget(url: string, options: UrlTargetOptions): PublishTarget {
  const name = redactRedisUrl(url);
  const log = options.logger.child({ component: 'publisher', target: name });
  let client: Redis | undefined;
  return {
    name,
    client() {
      client ??= createControlClient({
        endpoint: { url },
        connectionName: 'rbuddy-publish',
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        connectTimeoutMs: options.connectTimeoutMs,
        commandTimeoutMs: options.commandTimeoutMs,
        // One try per PUBLISH on the connection; the publisher's own retry loop decides about
        // retrying the event.
        retriesPerCommand: 1,
        // Only the message: an ioredis error never carries the password, but the URL could.
        onError: (error) => log.debug({ reason: error.message }, 'publish connection error'),
      });
      return client;
    },
    close() {
      const open = client;
      client = undefined;
      // Not QUIT: against a target that hangs it would wait for the command timeout.
      open?.disconnect();
    },
  };
}
