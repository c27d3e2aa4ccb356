// Pub/sub on every instance of a group (docs/ha.md, "Pub/sub and webhooks"). As an event sink,
// the relay records each event the leader emits in the group's recent events in etcd. Every
// instance, leader or follower, reads them every poll and hands those it has not seen to its own
// pub/sub: a follower so that its subscribers hear what the leader emitted, a new leader so that
// its subscribers hear what the previous one emitted just before it died. The leader reads its
// own events back too; the pub/sub hub tells each id once, so they are not told again. Only
// pub/sub: webhooks and --publish are shared sinks, sent once overall by the leader.
import type { Logger } from 'pino';
import type { EventSink, RbuddyEvent } from '../notify/events.js';
import type { RecentEventsFeed } from './etcd-recent-events.js';
import { RelayCursor, type RecentEvent } from './recent-events.js';

export interface EventRelayOptions {
  feed: RecentEventsFeed;
  /** Whether the switch an event announces was unplanned, as the leader's record says. */
  unplanned: (event: RbuddyEvent) => boolean;
  /** How often etcd is read. */
  pollMs: number;
  /** An event not handed over before, in the order the leader recorded them. */
  onEvent: (record: RecentEvent) => void;
  logger: Logger;
}

export class EventRelay implements EventSink {
  private readonly cursor = new RelayCursor();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: EventRelayOptions) {
    this.log = options.logger.child({ component: 'event-relay' });
  }

  /** An event this instance emitted (it leads): recorded for the others, never waited for. */
  deliver(event: RbuddyEvent): void {
    this.options.feed.append({ event, unplanned: this.options.unplanned(event) });
  }

  /** Reads once (what is there already is only remembered), then every poll. */
  async start(): Promise<void> {
    this.polling = this.poll();
    await this.polling;
    this.schedule();
  }

  /** Stops reading and recording (before the etcd client closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.options.feed.close();
    await this.polling;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedule());
    }, this.options.pollMs);
  }

  /** Never throws: etcd that cannot be read is read again at the next poll. */
  private async poll(): Promise<void> {
    let records: RecentEvent[];
    try {
      records = await this.options.feed.read();
    } catch (error) {
      // The coordination reports etcd's state; this would repeat it every poll.
      this.log.debug({ err: error }, "reading the group's recent events failed");
      return;
    }
    if (this.stopped) return;
    const fresh = this.cursor.next(records);
    if (fresh.length === 0) return;
    this.log.debug({ events: fresh.map((record) => record.event.id) }, 'events read from etcd');
    for (const record of fresh) {
      try {
        this.options.onEvent(record);
      } catch (error) {
        this.log.error({ err: error, event: record.event.id }, 'telling an event failed');
      }
    }
  }
}
