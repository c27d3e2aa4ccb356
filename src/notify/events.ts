// Events: every transition emits one, with a stable id shared by every channel and every retry
// (SPEC §6). The bus stamps id, time, group and epoch, logs the event as one JSON line, and
// hands it to the sinks (webhooks, pub/sub: a later issue).
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

export interface EventSink {
  deliver(event: RbuddyEvent): void;
}

export class EventBus {
  private readonly sinks: EventSink[] = [];
  private readonly recent: RbuddyEvent[] = [];

  constructor(
    private readonly group: string,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  emit(type: EventType, epoch: number, data: EventData): RbuddyEvent {
    const event: RbuddyEvent = {
      id: randomUUID(),
      type,
      timestamp: this.now().toISOString(),
      group: this.group,
      epoch,
      data,
    };
    this.logger.info({ event }, `event ${type}`);
    this.recent.push(event);
    if (this.recent.length > 100) this.recent.shift();
    for (const sink of this.sinks) {
      try {
        sink.deliver(event);
      } catch (error) {
        this.logger.error({ err: error, event: event.id }, 'event sink failed');
      }
    }
    return event;
  }

  /** The last events, oldest first (for status and tests). */
  history(): readonly RbuddyEvent[] {
    return this.recent;
  }
}
