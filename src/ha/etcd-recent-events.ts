// The group's recent events in etcd (recent-events.ts, `<prefix>/<group>/events/<seq>`). The
// leader records each event it emits; a write is a leader-guarded transaction (leader-guard.ts)
// that also removes what falls out of the last RECENT_EVENTS, so a deposed leader adds nothing
// and etcd holds a bounded number of them. Every instance reads them (event-relay.ts).
import type { Etcd3, IOperation } from 'etcd3';
import type { Logger } from 'pino';
import { EtcdUnavailableError, errorCode } from '../errors.js';
import { WarnThrottle } from '../log-throttle.js';
import { outboxSeq, seqKey } from './keys.js';
import { guardedTxn, type GuardSource } from './leader-guard.js';
import {
  firstKept,
  parseRecentEvent,
  recentEventText,
  recordsToWrite,
  RECENT_EVENTS,
  type RecentEvent,
} from './recent-events.js';

/** What the app uses: the leader appends, every instance reads. */
export interface RecentEventsFeed {
  /** Queues `record` for etcd; never waits, never throws (an event never waits for etcd). */
  append(record: RecentEvent): void;
  /** The records in etcd, oldest first; rejects with EtcdUnavailableError. */
  read(): Promise<RecentEvent[]>;
  /** Stops retrying; what is queued is dropped. */
  close(): void;
}

export interface EtcdRecentEventsOptions {
  /** Records kept in etcd. Default RECENT_EVENTS. */
  max?: number;
  /** Tries of one write when etcd does not answer, and the pause between two. */
  attempts?: number;
  retryMs?: number;
}

export class EtcdRecentEvents implements RecentEventsFeed {
  private pending: RecentEvent[] = [];
  private draining = false;
  private closed = false;
  private readonly max: number;
  private readonly attempts: number;
  private readonly retryMs: number;
  private readonly log: Logger;
  private readonly warnings = new WarnThrottle({ intervalMs: 60_000 });
  private wake: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(
    private readonly client: Etcd3,
    /** `<prefix>/<group>/events/` */
    private readonly prefix: string,
    private readonly source: GuardSource,
    logger: Logger,
    options: EtcdRecentEventsOptions = {},
  ) {
    this.max = options.max ?? RECENT_EVENTS;
    this.attempts = options.attempts ?? 3;
    this.retryMs = options.retryMs ?? 500;
    this.log = logger.child({ component: 'recent-events' });
  }

  append(record: RecentEvent): void {
    if (this.closed) return;
    this.pending.push(record);
    // More than `max` queued cannot all be kept anyway: the oldest go first.
    if (this.pending.length > this.max) this.pending.shift();
    if (!this.draining) void this.drain();
  }

  async read(): Promise<RecentEvent[]> {
    const records: RecentEvent[] = [];
    for (const { key, text } of await this.entries()) {
      const parsed = parseRecentEvent(text);
      if (typeof parsed === 'string') {
        this.warnings.warn(
          this.log,
          'unreadable',
          { key, why: parsed },
          'unreadable event skipped',
        );
      } else {
        records.push(parsed);
      }
    }
    return records;
  }

  close(): void {
    this.closed = true;
    this.pending = [];
    if (this.wake !== undefined) {
      clearTimeout(this.wake.timer);
      this.wake.resolve();
    }
  }

  /** One write at a time, each with what was queued meanwhile. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (!this.closed && this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.writeWithRetries(batch);
      }
    } finally {
      // In the same turn as the last check of `pending`: an append after it starts a new drain.
      this.draining = false;
    }
  }

  private async writeWithRetries(batch: readonly RecentEvent[]): Promise<void> {
    const ids = batch.map((record) => record.event.id);
    for (let attempt = 1; !this.closed; attempt += 1) {
      try {
        await this.write(batch);
        return;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (errorCode(error) === 'RBUDDY_ERR_NOT_LEADER') {
          // A deposed leader adds nothing: the events it still emits are its own port's only.
          this.log.debug({ events: ids, reason }, 'not recorded: this instance does not lead');
          return;
        }
        if (attempt >= this.attempts) {
          this.warnings.warn(
            this.log,
            'write',
            { events: ids, reason },
            'events not recorded in etcd: subscribers of the other instances will not hear them',
          );
          return;
        }
        await this.sleep(this.retryMs);
      }
    }
  }

  /**
   * One transaction: the records under the next sequence numbers, and the removal of those that
   * fall out of the last `max`. Records already there (a retry of a write that landed) are skipped.
   */
  private async write(batch: readonly RecentEvent[]): Promise<void> {
    const present = await this.entries();
    const ids = new Set<string>();
    let next = 0;
    for (const { seq, text } of present) {
      next = Math.max(next, seq + 1);
      const parsed = parseRecentEvent(text);
      if (typeof parsed !== 'string') ids.add(parsed.event.id);
    }
    const records = recordsToWrite(batch, ids, this.max);
    if (records.length === 0) return;
    const ops: IOperation[] = records.map((record, index) =>
      this.client.put(seqKey(this.prefix, next + index)).value(recentEventText(record)),
    );
    const kept = firstKept(next + records.length - 1, this.max);
    if (kept > 0) {
      ops.push(
        this.client.delete().inRange({ start: this.prefix, end: seqKey(this.prefix, kept) }),
      );
    }
    await guardedTxn(this.client, this.source, 'record events for the other instances', ops);
  }

  /** The entries under the prefix, in sequence order (keys that are not entries left out). */
  private async entries(): Promise<Array<{ key: string; seq: number; text: string }>> {
    let stored: Record<string, string>;
    try {
      // The newest sequence keys (digits only: other keys never crowd them out), at most a few
      // times what the leader keeps: junk under the prefix must not grow this read without bound
      // (reviewer round 7, R7-2).
      stored = await this.client
        .getAll()
        .inRange({ start: `${this.prefix}0`, end: `${this.prefix}:` })
        .sort('Key', 'Descend')
        .limit(this.max * 4)
        .strings();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new EtcdUnavailableError(`cannot read ${this.prefix}: ${message}`, { cause: error });
    }
    const entries: Array<{ key: string; seq: number; text: string }> = [];
    for (const [key, text] of Object.entries(stored)) {
      const seq = outboxSeq(this.prefix, key);
      if (seq !== undefined) entries.push({ key, seq, text });
    }
    return entries.sort((a, b) => a.seq - b.seq);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = { timer, resolve };
    });
  }
}
