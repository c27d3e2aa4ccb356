// The application of the story: before every read it asks rbuddy which replica is the active
// (GET /active) and reads a known key there. A read fails when anything errors, times out or the
// value is wrong. Like harness/reader.ts, plus what the demo shows live: reads per replica,
// which one is read now, and when the reader first moved to each.
import { Redis } from 'ioredis';

const READ_TIMEOUT_MS = 1_000;

export interface ReaderTarget {
  /** `redis://host:port/` exactly as GET /active answered. */
  url: string;
  /** `host:port`, the form rbuddy's configuration and /v1/status use. */
  address: string;
  served: number;
  firstAt: number;
}

export interface ReadFailure {
  at: number;
  error: string;
}

export class Reader {
  served = 0;
  failed = 0;
  readonly failures: ReadFailure[] = [];
  /** Every replica the reader read from, in order of the first read served there. */
  readonly targets: ReaderTarget[] = [];
  current: ReaderTarget | undefined;
  private readonly clients = new Map<string, Redis>();
  private running = true;
  private readonly loop: Promise<void>;

  /** Where GET /active is asked: one rbuddy, or every instance of a group (docs/ha.md). */
  private readonly httpUrls: readonly string[];
  /** Answers to GET /active per instance URL (with several: who answered while one was dead). */
  readonly answeredBy = new Map<string, number>();
  private next = 0;

  constructor(
    httpUrl: string | readonly string[],
    private readonly key: string,
    private readonly expected: string,
    private readonly intervalMs = 15,
  ) {
    this.httpUrls = typeof httpUrl === 'string' ? [httpUrl] : httpUrl;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const url = await this.active();
        const value = await this.client(url).get(this.key);
        if (value !== this.expected) {
          throw new Error(`read ${JSON.stringify(value)} from ${addressOf(url)}`);
        }
        const target = this.target(url);
        this.served += 1;
        target.served += 1;
        this.current = target;
      } catch (error) {
        this.failed += 1;
        if (this.failures.length < 20) {
          this.failures.push({
            at: Date.now(),
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  /**
   * The active as GET /active names it. With several instances, they are asked in turn, and
   * the next one at once when one does not answer: a client given every instance of a group.
   */
  private async active(): Promise<string> {
    const first = this.next;
    this.next = (this.next + 1) % this.httpUrls.length;
    let lastError: unknown;
    for (let i = 0; i < this.httpUrls.length; i += 1) {
      const httpUrl = this.httpUrls[(first + i) % this.httpUrls.length] ?? '';
      try {
        const response = await fetch(`${httpUrl}/active`, {
          signal: AbortSignal.timeout(READ_TIMEOUT_MS),
        });
        const url = (await response.text()).trim();
        if (response.status !== 200) throw new Error(`GET /active answered ${response.status}`);
        this.answeredBy.set(httpUrl, (this.answeredBy.get(httpUrl) ?? 0) + 1);
        return url;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  /** The replica behind `url`, recorded at its first successful read. */
  private target(url: string): ReaderTarget {
    let target = this.targets.find((t) => t.url === url);
    if (target === undefined) {
      target = { url, address: addressOf(url), served: 0, firstAt: Date.now() };
      this.targets.push(target);
    }
    return target;
  }

  private client(url: string): Redis {
    let client = this.clients.get(url);
    if (client === undefined) {
      client = new Redis(url, {
        commandTimeout: READ_TIMEOUT_MS,
        connectTimeout: READ_TIMEOUT_MS,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 100,
      });
      // Errors reach the read that hit them; the connection-level ones would only be noise.
      client.on('error', () => undefined);
      this.clients.set(url, client);
    }
    return client;
  }
}

function addressOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port}`;
  } catch {
    return url;
  }
}
