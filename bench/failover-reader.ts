// The application of the failover figures: reads one known key at a steady pace from the replica
// applications read, and times every read. A read fails when it errors (-LOADING included),
// returns anything but the expected value (nil included) or takes longer than a second.
//
// Like harness/reader.ts (GET /active before every read when following rbuddy), but it
// keeps the start and end of every read, which the figures need: when reads failed and for how
// long, not only how many.
import { Redis } from 'ioredis';

export interface ReadSample {
  /** Epoch ms (Date.now()) at the start and end of the read, /active lookup included. */
  start: number;
  end: number;
  ok: boolean;
  /** redis://host:port/ the read went to ('' when the lookup itself failed). */
  target: string;
  error?: string;
}

export interface TimedReader {
  readonly ok: number;
  readonly failed: number;
  /** Stops reading; resolves with every sample, in order. */
  stop(): Promise<ReadSample[]>;
}

export interface TimedReaderOptions {
  /** Where to read: a fixed URL, or a lookup (GET /active) done before every read. */
  target: () => string | Promise<string>;
  key: string;
  expected: string;
  /** One read starts every `periodMs` (later when a read takes longer). */
  periodMs: number;
  /** A read (and the lookup) taking longer than this has failed. */
  timeoutMs: number;
}

const running = new Set<TimedReader>();

/** Stops every reader still running (the error and Ctrl-C path). */
export async function stopAllTimedReaders(): Promise<void> {
  await Promise.allSettled([...running].map((reader) => reader.stop()));
}

/** A lookup that follows rbuddy: GET /active answers `redis://host:port/`. */
export function followActive(httpUrl: string, timeoutMs: number): () => Promise<string> {
  return async () => {
    const response = await fetch(`${httpUrl}/active`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.text()).trim();
    if (response.status !== 200) throw new Error(`GET /active answered ${response.status}`);
    return body;
  };
}

export function startTimedReader(options: TimedReaderOptions): TimedReader {
  const clients = new Map<string, Redis>();
  const samples: ReadSample[] = [];
  let ok = 0;
  let failed = 0;
  let active = true;
  let wake: (() => void) | undefined;

  const clientFor = (url: string): Redis => {
    let client = clients.get(url);
    if (client === undefined) {
      client = new Redis(url, {
        commandTimeout: options.timeoutMs,
        connectTimeout: options.timeoutMs,
        // A command to a server that is loading gets -LOADING at once instead of waiting for
        // the ready check; a failed command is not retried: each read stands on its own.
        enableReadyCheck: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 100,
      });
      client.on('error', () => undefined);
      clients.set(url, client);
    }
    return client;
  };

  const readOnce = async (): Promise<void> => {
    const start = Date.now();
    let target = '';
    try {
      target = await options.target();
      const value = await clientFor(target).get(options.key);
      if (value !== options.expected) {
        throw new Error(value === null ? 'nil' : `unexpected value (${value.length} bytes)`);
      }
      ok += 1;
      samples.push({ start, end: Date.now(), ok: true, target });
    } catch (error) {
      failed += 1;
      const message = error instanceof Error ? error.message : String(error);
      samples.push({ start, end: Date.now(), ok: false, target, error: message });
    }
  };

  const loop = (async () => {
    let due = Date.now();
    while (active) {
      await readOnce();
      due += options.periodMs;
      const wait = due - Date.now();
      if (wait <= 0) {
        // A slow read (a timeout): carry on from now rather than firing a burst to catch up.
        due = Date.now();
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  })();

  const reader: TimedReader = {
    get ok() {
      return ok;
    },
    get failed() {
      return failed;
    },
    async stop() {
      active = false;
      wake?.();
      running.delete(reader);
      await loop;
      for (const client of clients.values()) client.disconnect();
      return samples;
    },
  };
  running.add(reader);
  return reader;
}

export interface ReadSummary {
  reads: number;
  failed: number;
  readsPerSecond: number;
  /** From the start of the first failed read to the end of the last one (0 without failures). */
  firstToLastMs: number;
  /**
   * Sum of the failing spans: a span starts with a failed read and ends when the next read that
   * succeeds starts (or with the last failed read, if none follows).
   */
  failingMs: number;
  spans: number;
  /** Epoch ms of the first and last failed read. */
  firstFailure: number | null;
  lastFailure: number | null;
  /** Failure kinds, most frequent first: `message × count`. */
  errors: Array<{ error: string; count: number }>;
  /** Every target read, in order of first use. */
  targets: string[];
}

/** What a run of samples says: how many reads failed, when, and for how long. */
export function summarizeReads(samples: readonly ReadSample[]): ReadSummary {
  const failures = samples.filter((sample) => !sample.ok);
  let failingMs = 0;
  let spans = 0;
  let spanStart: number | undefined;
  let lastFailureEnd = 0;
  for (const sample of samples) {
    if (!sample.ok) {
      if (spanStart === undefined) {
        spanStart = sample.start;
        spans += 1;
      }
      lastFailureEnd = sample.end;
    } else if (spanStart !== undefined) {
      failingMs += sample.start - spanStart;
      spanStart = undefined;
    }
  }
  if (spanStart !== undefined) failingMs += lastFailureEnd - spanStart;

  const kinds = new Map<string, number>();
  for (const failure of failures) {
    const kind = errorKind(failure.error ?? 'unknown');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const first = samples[0];
  const last = samples.at(-1);
  const seconds = first === undefined || last === undefined ? 0 : (last.end - first.start) / 1000;
  const firstFailure = failures[0];
  const lastFailure = failures.at(-1);
  return {
    reads: samples.length,
    failed: failures.length,
    readsPerSecond: seconds > 0 ? samples.length / seconds : 0,
    firstToLastMs:
      firstFailure === undefined || lastFailure === undefined
        ? 0
        : lastFailure.end - firstFailure.start,
    failingMs,
    spans,
    firstFailure: firstFailure?.start ?? null,
    lastFailure: lastFailure?.end ?? null,
    errors: [...kinds.entries()]
      .map(([error, count]) => ({ error, count }))
      .sort((a, b) => b.count - a.count),
    targets: [...new Set(samples.map((sample) => sample.target).filter((t) => t !== ''))],
  };
}

/** Groups error messages that differ only in details (ports, byte counts). */
function errorKind(message: string): string {
  if (message.startsWith('LOADING')) return '-LOADING';
  if (/timed? ?out/i.test(message)) return 'timeout';
  return message.replace(/\d+/g, 'N').slice(0, 80);
}
