// A webhook endpoint's outbox in etcd (`<prefix>/<group>/outbox/<endpoint>/<seq>`), shared by
// every instance of the group: whichever instance leads delivers what is due, and the outbox
// survives any instance's death. An entry is added only under a key nobody used (a deposed
// leader that still adds cannot overwrite the new leader's entry), and removing a delivered entry
// is a leader-guarded transaction: a deposed leader's delivery marks nothing delivered, so the
// new leader sends the event again with the same id (receivers deduplicate by id).
import { Range, type Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { OutboxEntryError } from '../errors.js';
import type { RbuddyEvent } from '../notify/events.js';
import { OUTBOX_LIMIT, type EventOutbox, type OutboxEntry } from '../notify/outbox.js';
import { storedEvent } from '../notify/stored-event.js';
import { outboxSeq } from './keys.js';
import { guardedTxn, type GuardSource } from './leader-guard.js';

/** Ids remembered: far more than the events of any takeover's window. */
const KNOWN_IDS = 10_000;
/** Sequence numbers tried past one another instance took before giving up on an add. */
const ADD_ATTEMPTS = 5;
/**
 * Keys per range read of the outbox. One read of it all failed past the client's 4 MiB message
 * limit (about 13,500 entries), and with it every takeover (reviewer round 6, F1).
 */
export const OUTBOX_PAGE = 256;

function parseEntry(body: string): RbuddyEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new OutboxEntryError('not valid JSON', { cause: error });
  }
  const checked = storedEvent(value);
  if (!checked.ok) throw new OutboxEntryError(`not an event: ${checked.why}`);
  return checked.event;
}

export class EtcdOutbox implements EventOutbox {
  private nextSeq = 0;
  private readonly known = new Set<string>();

  constructor(
    private readonly client: Etcd3,
    /** `<prefix>/<group>/outbox/<endpoint>/` */
    private readonly prefix: string,
    private readonly source: GuardSource,
    private readonly logger: Logger,
  ) {}

  private key(seq: number): string {
    return `${this.prefix}${String(seq).padStart(16, '0')}`;
  }

  /**
   * What is stored, oldest first, read a page at a time. Past OUTBOX_LIMIT the oldest are dropped
   * and deleted (leader-guarded, best effort), so that neither a message nor memory grows with a
   * receiver's outage (notify/outbox.ts).
   */
  async load(): Promise<OutboxEntry[]> {
    const entries: OutboxEntry[] = [];
    const end = Range.prefix(this.prefix).end;
    let [start, dropped]: [Buffer | string, number] = [this.prefix, 0];
    for (;;) {
      const page = await this.client
        .getAll()
        .inRange(new Range(start, end))
        .sort('Key', 'Ascend')
        .limit(OUTBOX_PAGE)
        .exec();
      for (const kv of page.kvs) this.loadEntry(kv.key.toString(), kv.value.toString(), entries);
      if (entries.length > OUTBOX_LIMIT)
        dropped += entries.splice(0, entries.length - OUTBOX_LIMIT).length;
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    const first = entries[0];
    if (dropped > 0 && first !== undefined) await this.dropBefore(first.seq, dropped);
    return entries;
  }

  /** Deletes every entry before `seq`: the oldest, past the limit. */
  private async dropBefore(seq: number, count: number): Promise<void> {
    this.logger.error(
      { dropped: count, kept: OUTBOX_LIMIT, limit: OUTBOX_LIMIT },
      'webhook outbox in etcd over its limit: the oldest undelivered events dropped',
    );
    await guardedTxn(this.client, this.source, 'drop the oldest outbox entries', [
      this.client.delete().inRange(new Range(this.prefix, this.key(seq))),
    ]).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'dropping the oldest outbox entries failed');
    });
  }

  private loadEntry(key: string, body: string, entries: OutboxEntry[]): void {
    const seq = outboxSeq(this.prefix, key);
    if (seq === undefined) return;
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
    try {
      const event = parseEntry(body);
      entries.push({ seq, event, body, persisted: Promise.resolve() });
      this.remember(event.id);
    } catch (error) {
      // Left where it is for a human (its sequence number stays taken): it cannot be delivered.
      this.logger.warn({ err: error, key }, 'unreadable outbox entry in etcd skipped');
    }
  }

  add(event: RbuddyEvent): OutboxEntry | undefined {
    if (this.known.has(event.id)) return undefined;
    this.remember(event.id);
    const seq = this.nextSeq++;
    const body = JSON.stringify(event);
    const entry = { seq, event, body, persisted: Promise.resolve() };
    entry.persisted = this.write(entry);
    entry.persisted.catch(() => undefined);
    return entry;
  }

  /** Leader-guarded: rejects with NotLeaderError (the entry stays) when this instance does not lead. */
  async remove(entry: OutboxEntry): Promise<void> {
    await guardedTxn(this.client, this.source, 'mark an event delivered', [
      this.client.delete().key(this.key(entry.seq)),
    ]);
  }

  /**
   * Stores the entry under a key nobody used yet. Another instance may have taken the sequence
   * number (a leader before us that added after we loaded): then the entry moves past it. The
   * key may also hold this very entry: the client tries a transaction again on another member
   * when the first did not answer in time (etcd-client.ts), and the first may have been applied.
   */
  private async write(entry: { seq: number; body: string }): Promise<void> {
    for (let attempt = 0; attempt < ADD_ATTEMPTS; attempt += 1) {
      const key = this.key(entry.seq);
      const result = await this.client
        .if(key, 'Create', '==', 0)
        .then(this.client.put(key).value(entry.body))
        .else(this.client.get(key))
        .commit();
      if (result.succeeded) return;
      const taken = result.responses[0]?.response_range?.kvs[0];
      if (taken?.value.toString() === entry.body) return;
      entry.seq = this.nextSeq++;
    }
    throw new OutboxEntryError(`no free sequence number after ${ADD_ATTEMPTS} attempts`);
  }

  private remember(id: string): void {
    this.known.add(id);
    if (this.known.size > KNOWN_IDS) {
      const oldest = this.known.values().next();
      if (oldest.done !== true) this.known.delete(oldest.value);
    }
  }
}
