// One direction of a relay: bytes read from `source` are written to `sink`. When the sink's
// buffer is full (`write()` returns false) the source is paused until the sink drains, so a
// slow peer slows its upstream read instead of growing our memory. A sink that does not drain
// within `drainTimeoutMs` is declared stuck (the caller destroys the session), the way Redis
// drops a replica that is silent for repl-timeout.
import type { Duplex } from 'node:stream';

export interface HopOptions {
  source: Duplex;
  sink: Duplex;
  drainTimeoutMs: number;
  onStuck: () => void;
  /**
   * The source reads into one buffer it reuses (net's `onread`): a chunk's memory is only ours
   * until the next read, and a socket write keeps a view of it, not a copy, until flushed. So
   * the source must not read again while the sink holds anything unflushed.
   */
  reusesChunks?: boolean;
}

export class Hop {
  private readonly source: Duplex;
  private readonly sink: Duplex;
  private readonly drainTimeoutMs: number;
  private readonly onStuck: () => void;
  private readonly reusesChunks: boolean;
  private drainTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  /** Bytes handed to the sink so far. */
  bytes = 0;
  /** Largest sink buffer seen right after a write: the memory this hop ever held. */
  peakBuffered = 0;

  constructor(options: HopOptions) {
    this.source = options.source;
    this.sink = options.sink;
    this.drainTimeoutMs = options.drainTimeoutMs;
    this.onStuck = options.onStuck;
    this.reusesChunks = options.reusesChunks ?? false;
    this.sink.on('drain', this.onDrain);
  }

  /** Writes untouched bytes to the sink, pausing the source while the sink is full. */
  write(chunk: Buffer): void {
    if (chunk.length === 0 || this.sink.destroyed) return;
    this.bytes += chunk.length;
    // With a reused read buffer, resume once everything written has been flushed (the write
    // callback); 'drain' only fires after write() returned false.
    const ok = this.reusesChunks ? this.sink.write(chunk, this.onFlushed) : this.sink.write(chunk);
    const buffered = this.sink.writableLength;
    if (buffered > this.peakBuffered) this.peakBuffered = buffered;
    if ((!ok || (this.reusesChunks && buffered > 0)) && this.drainTimer === undefined) {
      this.source.pause();
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        this.onStuck();
      }, this.drainTimeoutMs);
    }
  }

  /**
   * Stops reading the source for `ms` (unless it is paused already). Many small reads cost more
   * CPU than a few large ones (a syscall each way, a callback, a wake-up of the peer); a short
   * pause lets the kernel gather what arrives meanwhile into one read and one write. Only for
   * bulk transfer, where latency does not matter.
   */
  holdSource(ms: number): void {
    if (this.holdTimer !== undefined || this.drainTimer !== undefined || this.sink.destroyed) {
      return;
    }
    this.source.pause();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      if (this.drainTimer === undefined) this.source.resume();
    }, ms);
  }

  /** True while the source is paused waiting for the sink. */
  get waitingForDrain(): boolean {
    return this.drainTimer !== undefined;
  }

  /** Bytes written but not yet accepted by the sink's peer (kernel buffers aside). */
  get buffered(): number {
    return this.sink.writableLength;
  }

  dispose(): void {
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.drainTimer = undefined;
    this.holdTimer = undefined;
    this.sink.off('drain', this.onDrain);
  }

  private readonly onDrain = (): void => {
    if (this.drainTimer === undefined || this.sink.writableLength > 0) return;
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.holdTimer === undefined) this.source.resume();
  };

  private readonly onFlushed = (): void => {
    this.onDrain();
  };
}
