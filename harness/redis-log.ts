// What a redis-server's own log says about the full syncs it took as a replica. A check that must
// see every full sync cannot sample the replica for it: a 1 MB dataset is flushed and reloaded in
// a few milliseconds, between two samples. The replica logs each one, with its PID and a
// millisecond timestamp: "Full resync from master: <replid>:<offset>" once it accepted the
// master's +FULLRESYNC (slaveTryPartialResynchronization in replication.c), then
// "MASTER <-> REPLICA sync: Flushing old data", "Done loading RDB, keys loaded: N" and
// "MASTER <-> REPLICA sync: Finished with success" (readSyncBulkPayload). The same "Done loading
// RDB" line right after "just started" is the dataset a process loaded from its own dump.rdb at
// start, which no master sent. Formats as Redis 7.0 writes them (serverLogRaw in server.c).
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export interface RedisLogLine {
  pid: number;
  /** `M` master, `S` replica, `C` a forked child or the start, `X` sentinel. */
  role: string;
  /** ms since the Unix epoch (Redis logs local time to the millisecond). */
  at: number;
  text: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LINE =
  /^(\d+):([A-Z]) (\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) [.\-*#] (.*)$/;

/** How a replica's log says a sync attempt failed (replication.c: readSyncBulkPayload, the
 * repl-timeout check in replicationCron, the link's loss). */
const ENDS_ATTEMPT =
  /^(I\/O error trying to sync with MASTER|Timeout receiving bulk data from MASTER|Failed trying to load the MASTER synchronization|Connection with master lost)/;

/** One line of a redis-server log, or undefined for anything else (a blank or foreign line). */
export function parseRedisLogLine(line: string): RedisLogLine | undefined {
  const m = LINE.exec(line);
  if (m === null) return undefined;
  const month = MONTHS.indexOf(m[4] ?? '');
  if (month < 0) return undefined;
  const at = new Date(
    Number(m[5]),
    month,
    Number(m[3]),
    Number(m[6]),
    Number(m[7]),
    Number(m[8]),
    Number(m[9]),
  ).getTime();
  return { pid: Number(m[1]), role: m[2] ?? '', at, text: m[10] ?? '' };
}

/** One full sync a replica process took, as its log tells it. */
export interface FullSync {
  pid: number;
  /** When it accepted the master's +FULLRESYNC (ms since the Unix epoch). */
  at: number;
  /** The replication ID the master gave. */
  replid: string;
  /** When it dropped its dataset for the snapshot, if it got that far. */
  flushedAt?: number;
  /** Keys in the snapshot it loaded. */
  keysLoaded?: number;
  finishedAt?: number;
  /** When it finished or failed: nothing more of it will be logged. */
  endedAt?: number;
  /** The log lines of this sync, as written. */
  lines: string[];
}

/**
 * The full syncs in a replica's log, fed line by line (in order, across its restarts: Redis
 * appends to one file), and what each process loaded when it started.
 */
export class FullSyncLog {
  readonly syncs: FullSync[] = [];
  /** Per PID: the sync under way (accepted, not finished or failed yet). */
  private readonly open = new Map<number, FullSync>();
  /** Per PID whose start was seen: the keys it loaded from its own files (0: started empty). */
  private readonly startKeys = new Map<number, { at: number; keys: number }>();
  /** PIDs between "just started" and "Ready to accept connections": loading their own files. */
  private readonly starting = new Set<number>();

  /** Takes log lines; returns the full syncs that began in them. */
  push(lines: readonly string[]): FullSync[] {
    const begun: FullSync[] = [];
    for (const raw of lines) {
      const line = parseRedisLogLine(raw);
      if (line === undefined) continue;
      const sync = this.open.get(line.pid);
      const { text } = line;
      if (/, just started$/.test(text)) {
        this.startKeys.set(line.pid, { at: line.at, keys: 0 });
        this.starting.add(line.pid);
        continue;
      }
      if (text.startsWith('Ready to accept connections')) this.starting.delete(line.pid);
      const full = /^Full resync from master: ([0-9a-f]+):/.exec(text);
      if (full !== null) {
        // A new attempt replaces one whose failure went unlogged.
        if (sync !== undefined) sync.endedAt ??= line.at;
        const started: FullSync = {
          pid: line.pid,
          at: line.at,
          replid: full[1] ?? '',
          lines: [raw],
        };
        this.syncs.push(started);
        this.open.set(line.pid, started);
        begun.push(started);
        continue;
      }
      const loaded = /^Done loading RDB, keys loaded: (\d+)/.exec(text);
      if (sync === undefined) {
        if (loaded !== null && this.starting.has(line.pid)) {
          this.startKeys.set(line.pid, { at: line.at, keys: Number(loaded[1]) });
        }
        continue;
      }
      if (ENDS_ATTEMPT.test(text)) {
        // The transfer failed; a next attempt begins with its own "Full resync from master".
        sync.lines.push(raw);
        sync.endedAt = line.at;
        this.open.delete(line.pid);
        continue;
      }
      if (!text.startsWith('MASTER <-> REPLICA sync: ') && loaded === null) continue;
      sync.lines.push(raw);
      if (text === 'MASTER <-> REPLICA sync: Flushing old data') sync.flushedAt = line.at;
      if (loaded !== null) sync.keysLoaded = Number(loaded[1]);
      if (text === 'MASTER <-> REPLICA sync: Finished with success') {
        sync.finishedAt = line.at;
        sync.endedAt = line.at;
        this.open.delete(line.pid);
      }
    }
    return begun;
  }

  /**
   * What the log says the process held just before `sync`: the keys its previous full sync
   * loaded (0 if that one flushed and failed), else what it loaded from its own files when it
   * started (0: it started empty); undefined when neither is in the lines pushed.
   */
  heldBefore(sync: FullSync): { at: number; keys: number } | undefined {
    const index = this.syncs.indexOf(sync);
    for (let i = index - 1; i >= 0; i -= 1) {
      const previous = this.syncs[i];
      if (previous === undefined || previous.pid !== sync.pid) continue;
      if (previous.flushedAt === undefined) continue;
      return { at: previous.finishedAt ?? previous.flushedAt, keys: previous.keysLoaded ?? 0 };
    }
    return this.startKeys.get(sync.pid);
  }
}

/**
 * Reads a log file as it grows: each call returns the complete lines appended since the last
 * (a line still being written waits for the next call). Redis opens, appends and closes its log
 * for every line, so the file is only ever appended to, across the server's restarts too.
 */
export class LogFollower {
  private offset = 0;
  private partial = '';

  /** `fromEnd`: only what is appended from now on. */
  constructor(
    readonly file: string,
    fromEnd = false,
  ) {
    if (fromEnd) this.offset = sizeOf(file);
  }

  readLines(): string[] {
    const size = sizeOf(this.file);
    if (size <= this.offset) return [];
    const buffer = Buffer.alloc(size - this.offset);
    const fd = openSync(this.file, 'r');
    let read: number;
    try {
      read = readSync(fd, buffer, 0, buffer.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset += read;
    const lines = (this.partial + buffer.subarray(0, read).toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    return lines;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
