// What a replica sends up its replication link, watched as it goes by: its REPLCONF ACKs (the
// offset it has processed, and when it said so) and an inline SYNC after a refused PSYNC. Its
// bytes reach the master untouched whatever this makes of them.
import { CommandFramer } from '../resp/command-framer.js';

export interface ReplicaAckHandlers {
  ack(offset: number): void;
  /** `SYNC` after a PSYNC error reply (syncWithMaster's fallback, on the same connection). */
  sync(): void;
  /** The bytes could not be parsed: the proxy stops watching them (the master judges them). */
  unreadable(error: unknown): void;
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

  constructor(
    private readonly handlers: ReplicaAckHandlers,
    private readonly now: () => number,
  ) {}

  /** Bytes of an incomplete command held here. */
  get buffered(): number {
    return this.framer.buffered;
  }

  read(chunk: Buffer): void {
    if (this.broken) return;
    try {
      for (const frame of this.framer.push(chunk)) this.onCommand(frame.args);
    } catch (error) {
      this.broken = true;
      this.handlers.unreadable(error);
    }
  }

  private onCommand(args: readonly Buffer[]): void {
    if (isWord(args[0], 'replconf') && isWord(args[1], 'ack')) {
      const offset = Number(args[2]?.toString('latin1'));
      if (Number.isSafeInteger(offset)) {
        this.lastOffset = offset;
        this.lastAt = this.now();
        this.handlers.ack(offset);
      }
    } else if (isWord(args[0], 'sync')) {
      this.handlers.sync();
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
