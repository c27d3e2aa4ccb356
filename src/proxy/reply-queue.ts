// Replies in command order on one connection, even when a command's handler is asynchronous (a
// discovery lookup, an AUTH that waits out its throttle). A step runs at once when nothing is
// pending, so a pipeline of PINGs is answered without a promise per command: a flood of them cost
// seconds of CPU that way.
export type ReplyStep = () => void | Promise<void>;

export class ReplyQueue {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  /** A step is running right now: one it adds must wait for it to finish. */
  private running = false;

  /** `onError`: a step threw or rejected (the connection is then beyond saving). */
  constructor(private readonly onError: (error: unknown) => void) {}

  /** No step is waiting: the next one runs at once. */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Runs `step` after every step added before it. */
  add(step: ReplyStep): void {
    if (this.pending > 0 || this.running) {
      this.track(this.chain.then(step));
      return;
    }
    this.running = true;
    try {
      const result = step();
      if (result !== undefined) this.track(result);
    } catch (error) {
      this.onError(error);
    } finally {
      this.running = false;
    }
  }

  /** Resolves once every step added so far has settled; never rejects. */
  settled(): Promise<void> {
    return this.chain;
  }

  private track(step: Promise<void>): void {
    this.pending += 1;
    this.chain = step
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.pending -= 1;
      });
  }
}
