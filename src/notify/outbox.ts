// A durable, ordered outbox for one notification endpoint: one file per event in its own
// directory under --state-dir, named by a zero-padded sequence number so that the directory
// listing IS the delivery order. A file is written atomically (temp file, fsync, rename, fsync of
// the directory) before the first delivery attempt and removed once the endpoint acknowledged it,
// so whatever was not yet delivered survives a crash (kill -9) with the same event id and body.
// An event is stored once per id: the engine sends an event again after a restart when it cannot
// know whether the previous process stored it (see PersistedState.unannounced).
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { replaceFile, TEMP_SUFFIX } from '../atomic-file.js';
import { errorCode, OutboxEntryError } from '../errors.js';
import type { RbuddyEvent } from './events.js';
import { storedEvent } from './stored-event.js';

export interface OutboxEntry {
  readonly seq: number;
  readonly event: RbuddyEvent;
  /** The exact bytes sent (and signed) on every attempt. */
  readonly body: string;
  /** Resolves once the entry is on disk; delivery waits for it (a crash must not lose it). */
  readonly persisted: Promise<void>;
}

/**
 * What a webhook endpoint needs of its outbox (webhooks.ts): this file's Outbox in --state-dir,
 * or, with several instances per group, one in etcd (src/ha/etcd-outbox.ts).
 */
export interface EventOutbox {
  /** What is stored and not yet delivered, oldest first (read when the endpoint starts). */
  load(): Promise<OutboxEntry[]>;
  /**
   * Takes the event at once (its sequence number) and stores it in the background
   * (`persisted`); undefined when this outbox already took an event with this id.
   */
  add(event: RbuddyEvent): OutboxEntry | undefined;
  /** Forgets a delivered entry. */
  remove(entry: OutboxEntry): Promise<void>;
}

const ENTRY_NAME = /^(\d{16})\.json$/;

/**
 * Undelivered events kept per endpoint, at most: past it the oldest are dropped (logged, counted
 * in status), so that a receiver down for days cannot grow the outbox, the memory holding it, or
 * (in etcd) the reads of it without bound. Far more than any outage's worth of failovers.
 */
export const OUTBOX_LIMIT = 10_000;

function entryName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.json`;
}

/** The event an entry's file holds; throws OutboxEntryError when it holds none. */
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

/** Ids remembered per outbox: far more than the events of any restart's window. */
const KNOWN_IDS = 10_000;

export class Outbox implements EventOutbox {
  private nextSeq = 0;
  /** Ids stored (or read back) by this process, oldest first, delivered or not. */
  private readonly known = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** Reads what a previous process left behind, oldest first. */
  async load(): Promise<OutboxEntry[]> {
    await mkdir(this.dir, { recursive: true });
    const names = (await readdir(this.dir)).sort();
    const entries: OutboxEntry[] = [];
    for (const name of names) {
      const match = ENTRY_NAME.exec(name);
      const path = join(this.dir, name);
      if (match === null) {
        // A temp file from a write that a crash interrupted: it was never renamed, so the event
        // it held was never acknowledged as stored either; the in-memory copy died with the process.
        if (name.endsWith(TEMP_SUFFIX)) await unlink(path).catch(() => undefined);
        continue;
      }
      const seq = Number(match[1]);
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      try {
        const body = await readFile(path, 'utf8');
        const event = parseEntry(body);
        entries.push({ seq, event, body, persisted: Promise.resolve() });
        this.remember(event.id);
      } catch (error) {
        // A corrupt or foreign entry cannot be delivered; keep it aside for a human instead of
        // blocking the queue (its sequence number stays taken: nothing overwrites it).
        this.logger.warn({ err: error, file: path }, 'unreadable outbox entry set aside');
        await rename(path, `${path}.corrupt`).catch(() => undefined);
      }
    }
    return entries;
  }

  /**
   * Assigns the next sequence number at once and writes the entry in the background. Undefined
   * when this outbox already took an event with this id (in this process, or it was read back by
   * load()): it is on disk or delivered, and a second copy would only be a duplicate.
   */
  add(event: RbuddyEvent): OutboxEntry | undefined {
    if (this.known.has(event.id)) return undefined;
    this.remember(event.id);
    const seq = this.nextSeq++;
    const body = JSON.stringify(event);
    const persisted = this.write(seq, body);
    // The caller awaits `persisted` before delivering; this only keeps an early failure from
    // being reported as an unhandled rejection.
    persisted.catch(() => undefined);
    return { seq, event, body, persisted };
  }

  async remove(entry: OutboxEntry): Promise<void> {
    await unlink(join(this.dir, entryName(entry.seq))).catch((error: unknown) => {
      if (errorCode(error) !== 'ENOENT') throw error;
    });
  }

  private remember(id: string): void {
    this.known.add(id);
    if (this.known.size > KNOWN_IDS) {
      const oldest = this.known.values().next();
      if (oldest.done !== true) this.known.delete(oldest.value);
    }
  }

  private async write(seq: number, body: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await replaceFile(join(this.dir, entryName(seq)), body, 0o600);
  }
}
