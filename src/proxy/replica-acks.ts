// What a replica sends up its replication link, watched as it goes by: its REPLCONF ACKs (the
// offset it has processed, and when it said so) and an inline SYNC after a refused PSYNC. Its
// bytes reach the master untouched whatever this makes of them.
//
// Also how far behind the replica is in time: ACKs come every second whatever the replica does,
// so an ACK that does not move while the stream does is a replica that stopped applying it (a
// paused or overloaded node, a stalled relay), which lagBytes alone cannot tell from an ACK in
// flight. The stream relayed is marked (offset, when) at most every MARK_MS; the lag is the age
// of the oldest mark beyond the last ACK.
import type { Logger } from 'pino';
import { WarnThrottle } from '../log-throttle.js';
import { CommandFramer } from '../resp/command-framer.js';

/** The granularity of the lag in time (ms): its error either way is at most this. */
export const MARK_MS = 250;
/** Marks kept (10 minutes of MARK_MS); past it the newest mark is extended (lag over-stated). */
const MAX_MARKS = 2_400;
/** A replica this far behind what was relayed to it is logged, at most once a minute. */
export const BEHIND_WARN_MS = 10_000;

export interface ReplicaAckHandlers {
  ack(offset: number): void;
  /** `SYNC` after a PSYNC error reply (syncWithMaster's fallback, on the same connection). */
  sync(): void;
}

export class ReplicaAcks {
  private readonly framer = new CommandFramer();
  private broken = false;
  /**
   * The last ACK and when it came (ms). Plain fields, not an object: a replica under WAIT load
   * ACKs thousands of times a second, and each object is garbage.
   */
  lastOffset: number | undefined;
  lastAt = 0;
  /** Flat pairs (offset, ms) from `first` on: the stream relayed up to offset by that time. */
  private marks: number[] = [];
  private first = 0;
  private readonly behindWarnings: WarnThrottle;

  constructor(
    private readonly handlers: ReplicaAckHandlers,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.behindWarnings = new WarnThrottle({ intervalMs: 60_000, now });
  }

  /** Bytes of an incomplete command held here. */
  get buffered(): number {
    return this.framer.buffered;
  }

  /** The stream has been relayed up to `offset` (called per chunk relayed). */
  relayed(offset: number): void {
    const now = this.now();
    const last = this.marks.length - 2;
    const full = (this.marks.length - this.first) / 2 >= MAX_MARKS;
    if (last >= this.first && (full || now - this.marks[last + 1] < MARK_MS)) {
      this.marks[last] = offset;
      return;
    }
    this.marks.push(offset, now);
  }

  /**
   * How long ago (ms) the oldest byte the replica has not acknowledged was relayed; 0 when it
   * acknowledged everything, null before its first ACK (a replica loading a snapshot).
   */
  lagMs(): number | null {
    if (this.lastOffset === undefined) return null;
    return this.first < this.marks.length ? this.now() - this.marks[this.first + 1] : 0;
  }

  read(chunk: Buffer): void {
    if (this.broken) return;
    try {
      for (const frame of this.framer.push(chunk)) this.onCommand(frame.args);
    } catch (error) {
      // The proxy stops watching them; the master judges them.
      this.broken = true;
      this.log.warn({ err: error }, 'cannot parse what the replica sends; no longer tracking ACKs');
    }
  }

  private onCommand(args: readonly Buffer[]): void {
    if (isWord(args[0], 'replconf') && isWord(args[1], 'ack')) {
      const offset = Number(args[2]?.toString('latin1'));
      if (Number.isSafeInteger(offset)) {
        this.lastOffset = offset;
        this.lastAt = this.now();
        this.forgetMarksUpTo(offset);
        this.handlers.ack(offset);
        const lagMs = this.lagMs() ?? 0;
        if (lagMs >= BEHIND_WARN_MS) {
          this.behindWarnings.warn(
            this.log,
            'behind',
            { lagMs, ackOffset: offset },
            'the replica has not applied what was relayed to it over 10 s ago (paused, ' +
              'overloaded or busy): it serves older data',
          );
        }
      }
    } else if (isWord(args[0], 'sync')) {
      this.handlers.sync();
    }
  }

  private forgetMarksUpTo(offset: number): void {
    while (this.first < this.marks.length && this.marks[this.first] <= offset) this.first += 2;
    if (this.first === this.marks.length) {
      this.marks = [];
      this.first = 0;
    } else if (this.first >= 1_024) {
      this.marks = this.marks.slice(this.first);
      this.first = 0;
    }
  }
}

/** Whether `arg` is `word` (given in lower case), ignoring ASCII case, without decoding it. */
function isWord(arg: Buffer | undefined, word: string): boolean {
  if (arg?.length !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    // ASCII letters differ from their upper case in bit 0x20 alone.
    if ((arg[i] | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}
