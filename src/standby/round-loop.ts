// The pace of the failover engine's rounds (engine.ts): one after another, `tickMs` apart; at
// once when a round asks for it or something wakes the loop (a probe verdict, a session event,
// an operator request); and after a failed round, the retry policy's backoff (I4: every failure
// is retried, and shows as `lastError` until a round succeeds; docs/design.md, "Invariants").
import type { RetryPolicy } from '../retry-policy.js';

export interface RoundLoopOptions {
  /** The delay between two rounds, read once per round (a test may count the reads). */
  tickMs: () => number;
  retry: RetryPolicy;
  /** One round; true when the next should follow at once. A throw is a failed round. */
  round: () => Promise<boolean>;
  /** A round failed (`attempt` in a row); the next comes in `retryInMs`. */
  failed: (error: unknown, attempt: number, retryInMs: number) => void;
}

export class RoundLoop {
  private readonly options: RoundLoopOptions;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private done: Promise<void> | undefined;
  private failures = 0;
  private lastErrorMessage: string | undefined;
  /** The round or the task under way: they run one at a time. */
  private serial: Promise<void> = Promise.resolve();

  constructor(options: RoundLoopOptions) {
    this.options = options;
  }

  /** True from start() until stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** True once stop() was called on a loop that was started. */
  get stopped(): boolean {
    return !this.running && this.done !== undefined;
  }

  /** The last failed round's error, until a round succeeds. */
  get lastError(): string | undefined {
    return this.lastErrorMessage;
  }

  start(): void {
    this.running = true;
    this.done = this.run();
  }

  /** Resolves once the round under way (if any) is over. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.done;
  }

  /**
   * Runs `task` between two rounds: it waits for the round under way, and the next round waits
   * for it, so that whatever else acts on the nodes (an HA leader's repointing) never interleaves
   * its commands with a round's.
   */
  between<T>(task: () => Promise<T>): Promise<T> {
    const result = this.serial.then(task);
    this.serial = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** The next round starts now (or right after the one under way). */
  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let delay = this.options.tickMs();
      try {
        if (await this.between(this.options.round)) delay = 0;
        this.failures = 0;
        this.lastErrorMessage = undefined;
      } catch (error) {
        this.failures += 1;
        this.lastErrorMessage = error instanceof Error ? error.message : String(error);
        const backoff = this.options.retry(this.failures - 1, error);
        delay = backoff === false ? 10_000 : Math.max(delay, backoff);
        this.options.failed(error, this.failures, delay);
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, delay);
      });
      clearTimeout(this.timer);
      this.wakeUp = undefined;
    }
  }
}
