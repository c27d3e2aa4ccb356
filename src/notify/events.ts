// Events: every transition emits one, with a stable id shared by every channel and every retry
// (docs/design.md, "Notifications"). The bus stamps id, time, group and epoch, logs the event as
// one JSON line, and hands it to the sinks (webhooks, --publish, pub/sub on the RESP port,
// metrics).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

export type EventType =
  | 'master.down'
  | 'master.up'
  | 'active.promoted'
  | 'standby.attached'
  | 'standby.synced'
  | 'failover.held'
  | 'failover.completed'
  | 'standby.ready'
  | 'failover.failed';

export interface EventData {
  active: string;
  standby: string;
  master: string;
  reason?: string;
  [key: string]: unknown;
}

export interface RbuddyEvent {
  id: string;
  type: EventType;
  timestamp: string;
  group: string;
  epoch: number;
  data: EventData;
}

export const NOTIFICATION_CHANNELS = ['webhook', 'pubsub', 'publish'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];
/**
 * delivered: one delivery succeeded; failed: one attempt failed (it may be retried);
 * dropped: rbuddy gave up on a notification (retries exhausted, queue full, or disabled endpoint).
 */
export const NOTIFICATION_RESULTS = ['delivered', 'failed', 'dropped'] as const;
export type NotificationResult = (typeof NOTIFICATION_RESULTS)[number];

export interface EventSink {
  deliver(event: RbuddyEvent): void;
}

/** A sink that keeps each event on disk until it is delivered (the webhook outboxes). */
export interface DurableSink {
  /** Resolves once the event is on disk; rejects if it could not be stored. */
  store(event: RbuddyEvent): Promise<void>;
}

export class EventBus {
  private readonly sinks: EventSink[] = [];
  private readonly durable: DurableSink[] = [];
  private readonly recent: RbuddyEvent[] = [];

  constructor(
    private readonly group: string,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  addDurableSink(sink: DurableSink): void {
    this.durable.push(sink);
  }

  emit(type: EventType, epoch: number, data: EventData): RbuddyEvent {
    const event = this.create(type, epoch, data);
    // Whoever needs to know that the event is on disk calls send() and awaits it.
    this.send(event).catch(() => undefined);
    return event;
  }

  /** Stamps an event (id, time, group, epoch) without sending it, so it can be saved first. */
  create(type: EventType, epoch: number, data: EventData): RbuddyEvent {
    return {
      id: randomUUID(),
      type,
      timestamp: this.now().toISOString(),
      group: this.group,
      epoch,
      data,
    };
  }

  /**
   * Hands an event to every sink — a new one from create(), or one a previous process saved
   * and may not have sent, with its original id and time. Resolves once every durable sink has
   * it on disk; rejects if one could not store it.
   */
  send(event: RbuddyEvent): Promise<void> {
    this.logger.info({ event }, `event ${event.type}`);
    this.recent.push(event);
    if (this.recent.length > 100) this.recent.shift();
    for (const sink of this.sinks) {
      try {
        sink.deliver(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.id }, 'event sink failed');
      }
    }
    // `async` so that a sink throwing at once still ends up in the returned promise.
    const stored = this.durable.map(async (sink) => sink.store(event));
    return Promise.all(stored).then(() => undefined);
  }

  /**
   * send() for several events, in order; resolves once every durable sink has all of them on
   * disk, rejects if one could not store them or if that takes longer than `timeoutMs`.
   */
  async sendAll(events: readonly RbuddyEvent[], timeoutMs: number): Promise<void> {
    const stored = Promise.all(events.map((event) => this.send(event)));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`not stored within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([stored, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last events, oldest first (for status and tests). */
  history(): readonly RbuddyEvent[] {
    return this.recent;
  }
}
