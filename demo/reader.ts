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

  constructor(
    private readonly httpUrl: string,
    private readonly key: string,
    private readonly expected: string,
    private readonly intervalMs = 15,
  ) {
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
        const response = await fetch(`${this.httpUrl}/active`, {
          signal: AbortSignal.timeout(READ_TIMEOUT_MS),
        });
        const url = (await response.text()).trim();
        if (response.status !== 200) throw new Error(`GET /active answered ${response.status}`);
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
