// Webhook delivery (docs/design.md, "Notifications"; Standard Webhooks 1.0). One Endpoint per
// --webhook URL, each with its own durable Outbox and a single delivery loop, so an endpoint sees
// its events in order and a slow or dead endpoint never holds up another one — nor the failover:
// deliver() only enqueues.
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { errorCode, RbuddyError } from '../errors.js';
import { WarnThrottle } from '../log-throttle.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';
import type { DurableSink, EventSink, RbuddyEvent } from './events.js';
import { Outbox, OUTBOX_LIMIT, type EventOutbox, type OutboxEntry } from './outbox.js';

export type WebhookState = 'ok' | 'retrying' | 'disabled';

export interface WebhookStatus {
  /** The origin only: paths (Slack-style tokens), queries and credentials never leave the process. */
  url: string;
  state: WebhookState;
  pending: number;
  /** Undelivered events dropped, the oldest first, past the outbox's limit (OUTBOX_LIMIT). */
  dropped: number;
  lastSuccess: string | null;
  lastError: string | null;
}

export interface WebhookOptions {
  urls: readonly string[];
  /** `whsec_<base64>`; empty: requests are sent unsigned. */
  secret: string;
  stateDir: string;
  timeoutMs: number;
  logger: Logger;
  retry?: RetryPolicy;
  /** Upper bound for a Retry-After the endpoint asks for (a typo there must not park us for days). */
  maxRetryAfterMs?: number;
  now?: () => Date;
  /**
   * Waits between two attempts; resolves early (never rejects) once `signal` aborts, at close().
   * Tests inject one they release by hand.
   */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** At most one "retrying" warning per endpoint in this window; the others go to debug. */
  warnIntervalMs?: number;
  fetch?: typeof fetch;
  /** Told of every attempt's outcome (for rbuddy_notifications_total). */
  record?: (result: 'delivered' | 'failed') => void;
  /**
   * Where each endpoint's outbox lives, given the endpoint's name (`webhook-<hash of its URL>`:
   * no token of the URL in it). Default: a directory of that name under `<stateDir>/outbox`.
   * Several instances of a group share one in etcd (src/ha/etcd-outbox.ts).
   */
  outboxFactory?: (endpoint: string) => EventOutbox;
  /** Undelivered events kept per endpoint (default OUTBOX_LIMIT); tests set a small one. */
  outboxLimit?: number;
}

/** The HMAC key: the base64 part of a `whsec_` secret, as the Standard Webhooks libraries read it. */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret,
    'base64',
  );
}

export function signWebhook(
  key: Buffer,
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const mac = createHmac('sha256', key)
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${mac}`;
}

/**
 * The origin only: what status, logs and errors show (docs/design.md, "Limits and trust").
 * Slack-style URLs carry their
 * token in the path, others in the query or the user part.
 */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '<invalid url>';
  }
}

function defaultDelay(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

class DeliveryError extends RbuddyError {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryAfterMs: number | undefined,
    options: { cause?: unknown } = {},
  ) {
    super('RBUDDY_ERR_WEBHOOK_DELIVERY', message, options);
  }
}

class Endpoint {
  private readonly queue: OutboxEntry[] = [];
  private dropped = 0;
  private state: WebhookState = 'ok';
  private lastSuccess: string | null = null;
  private lastError: string | null = null;
  private running = false;
  private closed = false;
  /** Aborted at close(): ends the request in flight and the wait between two attempts. */
  private readonly stopping = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private readonly logUrl: string;
  private readonly warnings: WarnThrottle;

  constructor(
    private readonly url: string,
    private readonly outbox: EventOutbox,
    private readonly options: Required<
      Omit<WebhookOptions, 'urls' | 'stateDir' | 'logger' | 'outboxFactory'>
    > & {
      key: Buffer | undefined;
    },
    private readonly logger: Logger,
  ) {
    this.logUrl = webhookOrigin(url);
    this.warnings = new WarnThrottle({
      intervalMs: options.warnIntervalMs,
      now: () => options.now().getTime(),
    });
  }

  async start(): Promise<void> {
    const recovered = await this.outbox.load();
    if (recovered.length > 0) {
      this.logger.info(
        { webhook: this.logUrl, pending: recovered.length },
        'webhook outbox: undelivered events from a previous run',
      );
    }
    this.queue.unshift(...recovered);
    this.keepWithinLimit();
    this.kick();
  }

  /** Resolves once the event is in the outbox on disk (at once if the outbox already had it). */
  enqueue(event: RbuddyEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('webhook endpoint closed'));
    // Even a disabled endpoint keeps the event on disk: a restart re-enables it and, if it
    // still answers 410, disables it again after one attempt.
    const entry = this.outbox.add(event);
    if (entry === undefined) return Promise.resolve();
    this.queue.push(entry);
    this.keepWithinLimit();
    this.kick();
    return entry.persisted;
  }

  /**
   * Past OUTBOX_LIMIT the oldest undelivered events go (the one in flight stays: the loop shifts
   * it when delivered), from the queue and the outbox: a receiver down for days must not grow
   * either without bound. Logged (throttled), counted in status.
   */
  private keepWithinLimit(): void {
    const excess = this.queue.length - this.options.outboxLimit;
    if (excess <= 0) return;
    const gone = this.queue.splice(this.running ? 1 : 0, excess);
    this.dropped += gone.length;
    this.warnings.warn(
      this.logger,
      'dropped',
      { webhook: this.logUrl, dropped: this.dropped, limit: this.options.outboxLimit },
      'webhook outbox full: the oldest undelivered events dropped',
    );
    for (const entry of gone) {
      void entry.persisted.then(() => this.outbox.remove(entry)).catch(() => undefined);
    }
  }

  status(): WebhookStatus {
    return {
      url: this.logUrl,
      state: this.state,
      pending: this.queue.length,
      dropped: this.dropped,
      lastSuccess: this.lastSuccess,
      lastError: this.lastError,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    await this.loop;
  }

  private kick(): void {
    if (this.running || this.closed || this.state === 'disabled') return;
    this.running = true;
    this.loop = this.run().finally(() => {
      this.running = false;
    });
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed && this.state !== 'disabled') {
      const entry = this.queue[0];
      if (entry === undefined) return;
      try {
        await entry.persisted;
      } catch (error) {
        // Could not store it: deliver anyway (better late-less than never), but say so.
        this.logger.error(
          { err: error, webhook: this.logUrl, event: entry.event.id },
          'webhook outbox write failed; this event will not survive a restart',
        );
      }
      if (this.closed) return;
      try {
        await this.send(entry);
        this.options.record('delivered');
        this.queue.shift();
        this.state = 'ok';
        this.lastSuccess = this.options.now().toISOString();
        const delivered = { webhook: this.logUrl, event: entry.event.id, type: entry.event.type };
        if (attempt === 0) {
          this.logger.debug(delivered, 'webhook delivered');
        } else {
          // The retry warnings are throttled: say once that the endpoint is back.
          this.logger.info(
            { ...delivered, failedAttempts: attempt },
            'webhook delivered after retries',
          );
        }
        attempt = 0;
        await this.outbox.remove(entry).catch((error: unknown) => {
          // A leftover file only means a duplicate after a restart (same id: receivers dedup).
          this.logger.warn({ err: error, webhook: this.logUrl }, 'webhook outbox cleanup failed');
        });
      } catch (error) {
        if (this.closed) return;
        this.options.record('failed');
        const failure =
          error instanceof DeliveryError
            ? error
            : new DeliveryError(String(error), undefined, undefined, { cause: error });
        this.lastError = `${this.options.now().toISOString()} ${failure.message}`;
        if (failure.status === 410) {
          this.state = 'disabled';
          this.logger.warn(
            { webhook: this.logUrl, event: entry.event.id, pending: this.queue.length },
            'webhook endpoint answered 410 Gone: disabled until restart',
          );
          return;
        }
        const backoff = this.options.retry(attempt, failure);
        attempt += 1;
        if (backoff === false) {
          // Only a policy with maxAttempts gives up; the event stays in the outbox for the next run.
          this.state = 'disabled';
          this.logger.error(
            { webhook: this.logUrl, event: entry.event.id, attempts: attempt },
            'webhook delivery gave up: endpoint disabled until restart',
          );
          return;
        }
        // Retry-After may lengthen the wait, never shorten it below the policy's: "0" or a date
        // in the past from a failing endpoint would otherwise be a busy loop against it.
        const delayMs =
          failure.retryAfterMs === undefined
            ? backoff
            : Math.max(backoff, Math.min(failure.retryAfterMs, this.options.maxRetryAfterMs));
        this.state = 'retrying';
        this.warnings.warn(
          this.logger,
          'retrying',
          {
            webhook: this.logUrl,
            event: entry.event.id,
            type: entry.event.type,
            attempt,
            delayMs,
            err: failure.message,
          },
          'webhook delivery failed; retrying',
        );
        await this.options.delay(delayMs, this.stopping.signal);
      }
    }
  }

  private async send(entry: OutboxEntry): Promise<void> {
    // Signed per attempt: receivers reject stale timestamps (Standard Webhooks: 5 min tolerance).
    const timestamp = Math.floor(this.options.now().getTime() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'webhook-id': entry.event.id,
      'webhook-timestamp': String(timestamp),
    };
    if (this.options.key !== undefined) {
      headers['webhook-signature'] = signWebhook(
        this.options.key,
        entry.event.id,
        timestamp,
        entry.body,
      );
    }
    const signal = AbortSignal.any([
      this.stopping.signal,
      AbortSignal.timeout(this.options.timeoutMs),
    ]);
    let response: Response;
    try {
      response = await this.options.fetch(this.url, {
        method: 'POST',
        headers,
        body: entry.body,
        signal,
        redirect: 'manual',
      });
      // Drain the body within the same deadline so the connection can be reused or closed.
      await response.arrayBuffer();
    } catch (error) {
      throw new DeliveryError(this.requestFailure(error), undefined, undefined);
    }
    if (response.status >= 200 && response.status < 300) return;
    throw new DeliveryError(
      `HTTP ${response.status}`,
      response.status,
      parseRetryAfter(response.headers.get('retry-after'), this.options.now()),
    );
  }

  /**
   * Why a request failed, without the URL: fetch's errors quote it in `cause` (its token with
   * it), so only the system error's code is kept. A timeout or close() aborts the request.
   */
  private requestFailure(error: unknown): string {
    const name = error instanceof Error ? error.name : undefined;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return `timeout after ${this.options.timeoutMs} ms`;
    }
    const cause = error instanceof Error ? errorCode(error.cause) : undefined;
    return `request failed (${cause ?? name ?? 'error'})`;
  }
}

export class WebhookNotifier implements EventSink, DurableSink {
  private readonly endpoints: Endpoint[];

  constructor(options: WebhookOptions) {
    const key = options.secret === '' ? undefined : webhookKey(options.secret);
    const shared = {
      secret: options.secret,
      timeoutMs: options.timeoutMs,
      retry: options.retry ?? exponentialBackoff({ baseMs: 500, maxMs: 60_000 }),
      maxRetryAfterMs: options.maxRetryAfterMs ?? 3_600_000,
      now: options.now ?? (() => new Date()),
      delay: options.delay ?? defaultDelay,
      warnIntervalMs: options.warnIntervalMs ?? 60_000,
      fetch: options.fetch ?? fetch,
      record: options.record ?? ((): void => undefined),
      outboxLimit: options.outboxLimit ?? OUTBOX_LIMIT,
      key,
    };
    // One outbox per URL, named by a hash so that no token in the URL lands on disk (or in etcd).
    const outboxFactory =
      options.outboxFactory ??
      ((endpoint: string): EventOutbox =>
        new Outbox(join(options.stateDir, 'outbox', endpoint), options.logger));
    this.endpoints = [...new Set(options.urls)].map((url) => {
      const endpoint = `webhook-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
      return new Endpoint(url, outboxFactory(endpoint), shared, options.logger);
    });
  }

  /** Loads the outboxes and starts delivering what a previous run left. */
  async start(): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => endpoint.start()));
  }

  deliver(event: RbuddyEvent): void {
    // A failed write is logged by the endpoint's delivery loop, which sends the event anyway.
    this.store(event).catch(() => undefined);
  }

  /** Resolves once every endpoint's outbox holds the event on disk. */
  async store(event: RbuddyEvent): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => endpoint.enqueue(event)));
  }

  status(): WebhookStatus[] {
    return this.endpoints.map((endpoint) => endpoint.status());
  }

  /** Stops timers and requests; the outbox stays on disk for the next run. */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => endpoint.close()));
  }
}
