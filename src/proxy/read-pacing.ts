// One read at a time on a client connection: after a read, the next is read only once the replies
// to it are written and drained (docs/design.md, "Limits and trust"). A client that never reads
// its replies stops being read, so what it costs rbuddy is one read's worth of replies.
import type { Duplex } from 'node:stream';
import type { ReplyQueue } from './reply-queue.js';

export class ReadPacer {
  /** Reading stopped until the replies to the last read are written and drained. */
  private pausedNow = false;

  /** `over`: the connection is closing or handed over, and is not to be read again here. */
  constructor(
    private readonly socket: Duplex,
    private readonly replies: ReplyQueue,
    private readonly over: () => boolean,
  ) {}

  get paused(): boolean {
    return this.pausedNow;
  }

  /** A read was handled (its replies queued): pause until they are out, if they are not yet. */
  afterRead(): void {
    if (this.over()) return;
    if (this.replies.idle && !this.socket.writableNeedDrain) return;
    this.pausedNow = true;
    this.socket.pause();
    void this.replies.settled().then(() => this.resumeWhenDrained());
  }

  private resumeWhenDrained(): void {
    if (this.over() || this.socket.destroyed) return;
    if (!this.replies.idle) {
      void this.replies.settled().then(() => this.resumeWhenDrained());
      return;
    }
    if (this.socket.writableNeedDrain) {
      this.socket.once('drain', () => this.resumeWhenDrained());
      return;
    }
    this.pausedNow = false;
    this.socket.resume();
  }
}
