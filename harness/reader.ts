// An application reading through a failover: before every read it asks rbuddy which replica is
// the active (GET /active) and reads a known key there. A read fails when it errors, times out
// (1 s: a stalled read is a failed read, so "zero failed" needs no rate check) or returns the
// wrong value. Its verdict is what rbuddy promises applications: zero failed reads through a
// failover.
import { Redis, type RedisOptions } from 'ioredis';

export interface ReaderResult {
  ok: number;
  failed: number;
  /**
   * With `unknownIsNoRead`: the times rbuddy answered that it cannot tell which replica is active
   * (GET /active 503), so no read was made.
   */
  unknown: number;
  /** Failed reads that answered nil: an empty node taken for the active (never an error). */
  nil: number;
  errors: string[];
  /** Every active address the reader was sent to, in order of first use. */
  actives: string[];
}

export interface Reader {
  stop(): Promise<ReaderResult>;
  readonly ok: number;
  readonly failed: number;
}

const running = new Set<Reader>();

/** Stops every reader still running (for `after()`: a failed assertion must not leave one looping). */
export async function stopAllReaders(): Promise<void> {
  await Promise.all([...running].map((reader) => reader.stop()));
}

export function startReader(options: {
  httpUrl: string;
  key: string;
  expected: string;
  intervalMs?: number;
  /** How to ask for the active's URL; default GET `${httpUrl}/active` (plain HTTP). */
  active?: () => Promise<string>;
  /** Extra client options for the replicas (TLS, say). */
  redis?: RedisOptions;
  /**
   * A GET /active answered 503 (rbuddy cannot tell) counts as `unknown`, not as a failed read: the
   * application is sent nowhere and asks again (an instance whose view of its group may be stale
   * answers so). Default: a failed read, as everywhere rbuddy must always know.
   */
  unknownIsNoRead?: boolean;
}): Reader {
  const clients = new Map<string, Redis>();
  const result: ReaderResult = { ok: 0, failed: 0, unknown: 0, nil: 0, errors: [], actives: [] };
  let readerRunning = true;
  const clientFor = (url: string): Redis => {
    let client = clients.get(url);
    if (client === undefined) {
      client = new Redis(url, {
        commandTimeout: 1000,
        connectTimeout: 1000,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 100,
        ...options.redis,
      });
      client.on('error', () => undefined);
      clients.set(url, client);
      result.actives.push(url);
    }
    return client;
  };
  const loop = (async () => {
    while (readerRunning) {
      try {
        const url = await (options.active ?? (() => activeOverHttp(options.httpUrl)))();
        const value = await clientFor(url).get(options.key);
        if (value === null) result.nil += 1;
        if (value !== options.expected)
          throw new Error(`read ${JSON.stringify(value)} from ${url}`);
        result.ok += 1;
      } catch (error) {
        if (error instanceof UnknownActive && options.unknownIsNoRead === true) {
          result.unknown += 1;
        } else {
          result.failed += 1;
          if (result.errors.length < 20) {
            result.errors.push(error instanceof Error ? error.message : String(error));
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 15));
    }
  })();
  const reader: Reader = {
    get ok() {
      return result.ok;
    },
    get failed() {
      return result.failed;
    },
    async stop() {
      readerRunning = false;
      running.delete(reader);
      await loop;
      for (const client of clients.values()) client.disconnect();
      return result;
    },
  };
  running.add(reader);
  return reader;
}

/** GET /active answered 503: rbuddy cannot tell which replica is active. */
class UnknownActive extends Error {}

async function activeOverHttp(httpUrl: string): Promise<string> {
  const response = await fetch(`${httpUrl}/active`, { signal: AbortSignal.timeout(1000) });
  const url = (await response.text()).trim();
  if (response.status === 503) throw new UnknownActive(`GET /active answered 503: ${url}`);
  if (response.status !== 200) throw new Error(`GET /active answered ${response.status}`);
  return url;
}
