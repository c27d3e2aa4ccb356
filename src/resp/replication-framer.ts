// Framing of what a master sends on a replication link, from the proxy's side: replies to the
// pipelined handshake, keepalive newlines, the PSYNC reply, the snapshot (disk `$<len>` with
// no trailing CRLF, or diskless `$EOF:<mark>` … `<mark>`) and the command stream. Pure: no
// sockets. See Redis src/replication.c: syncWithMaster, slaveTryPartialResynchronization,
// readSyncBulkPayload.
//
// Every byte pushed comes back in exactly one event's `raw`, in order, so that the relay can
// forward the master's bytes untouched by writing the `raw` of each event it relays.
//
// The snapshot and the stream are the bulk of the traffic (gigabytes), so those phases never
// loop over bytes in JavaScript and never copy chunk data: their `raw` is a subarray of the
// pushed chunk, and the `$EOF:` mark is found with Buffer.indexOf plus a copy of at most 39
// bytes carried over from the previous chunk.
import { ProtocolError } from '../errors.js';
import type { CommandLimits } from './limits.js';
import { PROTO_INLINE_MAX_SIZE, RUN_ID_SIZE } from './limits.js';

export type PsyncReply =
  | { kind: 'fullresync'; replid: string; offset: number }
  | { kind: 'continue'; replid: string | undefined }
  /** `retryLater` for -NOMASTERLINK and -LOADING; any other error makes a replica fall back to SYNC. */
  | { kind: 'error'; message: string; retryLater: boolean };

export type SnapshotFormat = { format: 'disk'; size: number } | { format: 'eof'; mark: string };

// Text fields are decoded from the line without its terminator: `line` keeps the leading '+' or
// '-' (as Redis's syncWithMaster compares it, e.g. against "-NOAUTH"), `message` drops the '-'.
// The `$EOF:` mark is decoded as latin1, one character per byte.
export type UpstreamEvent =
  /** A +/- reply to one of the pipelined handshake commands (AUTH, REPLCONF …). */
  | { type: 'handshake-reply'; raw: Buffer; ok: boolean; line: string }
  /** One or more bare "\n" keepalives (before the PSYNC reply or before the snapshot). */
  | { type: 'keepalive'; raw: Buffer }
  | { type: 'psync-reply'; raw: Buffer; reply: PsyncReply }
  | { type: 'snapshot-start'; raw: Buffer; snapshot: SnapshotFormat }
  /** Snapshot payload bytes (for `$EOF:` the trailing mark is part of the payload bytes). */
  | { type: 'snapshot-data'; raw: Buffer }
  /** Zero-length marker: the snapshot is complete; `size` is the RDB size (mark excluded). */
  | { type: 'snapshot-end'; raw: Buffer; size: number }
  /** The master aborted the transfer with an error line instead of a snapshot header. */
  | { type: 'snapshot-error'; raw: Buffer; message: string }
  /** Command-stream bytes (everything after the snapshot or after +CONTINUE). */
  | { type: 'stream'; raw: Buffer };

/**
 * 'psync-reply' lasts from the end of the handshake replies until a successful PSYNC reply;
 * after an error reply it holds until expectSnapshot(). 'failed' follows malformed input and
 * also a snapshot-error (the master ended the link: nothing more may come).
 */
export type ReplicationPhase =
  'handshake' | 'psync-reply' | 'waiting-snapshot' | 'snapshot' | 'streaming' | 'failed';

export interface ReplicationFramerOptions {
  /** How many handshake replies (one per pipelined AUTH/REPLCONF) come before the PSYNC reply. */
  handshakeReplies: number;
  /**
   * 'psync': a PSYNC reply follows the handshake replies. 'sync': the replica sent inline SYNC,
   * so the snapshot header follows directly (no PSYNC reply).
   */
  mode: 'psync' | 'sync';
  /** Longest reply line accepted (default 64 KB, PROTO_INLINE_MAX_SIZE). */
  maxLineLength?: number;
}

type State =
  | 'handshake'
  | 'psync-reply'
  /** An error reply to PSYNC came; only expectSnapshot() (the replica's SYNC) may follow. */
  | 'psync-error'
  | 'waiting-snapshot'
  | 'snapshot-disk'
  | 'snapshot-eof'
  | 'streaming'
  /** The master sent an error instead of the snapshot header; the link is over. */
  | 'aborted'
  | 'failed';

const LF = 0x0a;
const CR = 0x0d;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOLLAR = 0x24;
const EMPTY = Buffer.alloc(0);
/** A mark is RUN_ID_SIZE bytes; fewer than that at the end of a chunk may be its beginning. */
const MARK_CARRY = RUN_ID_SIZE - 1;
const EOF_PREFIX = Buffer.from('$EOF:', 'latin1');
const REPLID = /^[\x21-\x7e]{40}$/;
const DECIMAL = /^[0-9]{1,16}$/;

/**
 * Incremental framer for the master → replica direction of one replication link.
 * `push()` returns the events for the bytes given; the same input under any chunking gives
 * the same events once adjacent `keepalive`, `snapshot-data` and `stream` events are merged.
 * Malformed input throws a ProtocolError and leaves the framer in phase 'failed'.
 */
export class ReplicationFramer {
  private state: State;
  private failure: ProtocolError | undefined;
  private readonly mode: 'psync' | 'sync';
  private readonly maxLineLength: number;
  private handshakeRepliesLeft: number;

  /** Pieces of a reply line split across chunks, and their total length. */
  private lineParts: Buffer[] = [];
  private lineLength = 0;

  private transferred = 0;
  private streamed = 0;
  /** Disk snapshot: payload bytes still to come. */
  private snapshotLeft = 0;
  /** Diskless snapshot: the mark, and a copy of the last ≤ 39 payload bytes seen. */
  private mark: Buffer = EMPTY;
  private carry: Buffer = EMPTY;

  constructor(options: ReplicationFramerOptions) {
    const { handshakeReplies, mode, maxLineLength = PROTO_INLINE_MAX_SIZE } = options;
    if (!Number.isSafeInteger(handshakeReplies) || handshakeReplies < 0) {
      throw new RangeError(`handshakeReplies must be a non-negative integer: ${handshakeReplies}`);
    }
    this.mode = mode;
    this.maxLineLength = maxLineLength;
    this.handshakeRepliesLeft = handshakeReplies;
    this.state = handshakeReplies > 0 ? 'handshake' : this.afterHandshake();
  }

  push(chunk: Buffer): UpstreamEvent[] {
    if (this.failure !== undefined) throw this.failure;
    const events: UpstreamEvent[] = [];
    try {
      let pos = 0;
      while (pos < chunk.length) pos = this.step(chunk, pos, events);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.failure = err;
        this.state = 'failed';
      }
      throw err;
    }
    return events;
  }

  /** After a PSYNC error reply the replica may send inline SYNC: expect a snapshot next. */
  expectSnapshot(): void {
    if (this.state !== 'psync-error') {
      // The replica sent SYNC when no PSYNC had failed: not something syncWithMaster does.
      throw new ProtocolError(
        `SYNC is only expected after an error reply to PSYNC (phase ${this.phase})`,
      );
    }
    this.state = 'waiting-snapshot';
  }

  get phase(): ReplicationPhase {
    switch (this.state) {
      case 'psync-error':
        return 'psync-reply';
      case 'snapshot-disk':
      case 'snapshot-eof':
        return 'snapshot';
      case 'aborted':
        return 'failed';
      default:
        return this.state;
    }
  }

  /** Snapshot payload bytes seen so far (mark included for `$EOF:`). */
  get snapshotTransferred(): number {
    return this.transferred;
  }

  /** Command-stream bytes seen so far: the replica's offset is the PSYNC base plus this. */
  get streamBytes(): number {
    return this.streamed;
  }

  /** Bytes held inside the framer (a partial line; at most the last 39 bytes of an EOF mark). */
  get buffered(): number {
    return this.state === 'snapshot-eof' ? this.carry.length : this.lineLength;
  }

  private afterHandshake(): State {
    return this.mode === 'psync' ? 'psync-reply' : 'waiting-snapshot';
  }

  private step(chunk: Buffer, pos: number, events: UpstreamEvent[]): number {
    switch (this.state) {
      case 'handshake':
      case 'psync-reply':
      case 'waiting-snapshot':
        return this.readLine(chunk, pos, events);
      case 'snapshot-disk':
        return this.readDiskPayload(chunk, pos, events);
      case 'snapshot-eof':
        return this.readEofPayload(chunk, pos, events);
      case 'streaming': {
        const raw = pos === 0 ? chunk : chunk.subarray(pos);
        this.streamed += raw.length;
        events.push({ type: 'stream', raw });
        return chunk.length;
      }
      case 'psync-error':
        throw new ProtocolError('data from the master after an error reply to PSYNC');
      case 'aborted':
        throw new ProtocolError('data from the master after it aborted the snapshot transfer');
      case 'failed':
        throw new ProtocolError('replication framer used after a protocol error');
    }
  }

  /**
   * Lines as connSyncReadLine reads them: up to "\n", a "\r" before it dropped when present.
   * A "\n" where a line would start is a keepalive (the master's newlines while it prepares the
   * PSYNC reply or the snapshot; slaveTryPartialResynchronization and readSyncBulkPayload skip
   * them).
   */
  private readLine(chunk: Buffer, pos: number, events: UpstreamEvent[]): number {
    if (this.lineLength === 0) {
      const first = chunk[pos];
      if (first === LF) return this.readKeepalives(chunk, pos, events);
      this.checkLineStart(first);
    }
    const newline = chunk.indexOf(LF, pos);
    if (newline === -1) {
      // Copied: the caller may reuse the chunk's memory for its next read.
      this.lineParts.push(Buffer.from(chunk.subarray(pos)));
      this.lineLength += chunk.length - pos;
      // +1: the last byte held may be the "\r" of the terminator.
      if (this.lineLength > this.maxLineLength + 1) throw this.lineTooLong();
      return chunk.length;
    }
    const piece = chunk.subarray(pos, newline + 1);
    let raw = piece;
    if (this.lineParts.length > 0) {
      this.lineParts.push(piece);
      raw = Buffer.concat(this.lineParts);
      this.lineParts = [];
    }
    this.lineLength = 0;
    // The first byte is '+', '-' or '$', so the line has content before its terminator.
    const contentEnd = raw[raw.length - 2] === CR ? raw.length - 2 : raw.length - 1;
    if (contentEnd > this.maxLineLength) throw this.lineTooLong();
    this.onLine(raw, raw.subarray(0, contentEnd), events);
    return newline + 1;
  }

  private readKeepalives(chunk: Buffer, pos: number, events: UpstreamEvent[]): number {
    let end = pos + 1;
    while (end < chunk.length && chunk[end] === LF) end++;
    events.push({ type: 'keepalive', raw: chunk.subarray(pos, end) });
    return end;
  }

  private checkLineStart(first: number): void {
    if (this.state === 'waiting-snapshot') {
      if (first === DOLLAR || first === MINUS) return;
      // readSyncBulkPayload's own complaint.
      throw new ProtocolError(
        `bad protocol from the master: the first byte is not '$' (got ${describeByte(first)})`,
      );
    }
    if (first === PLUS || first === MINUS) return;
    const expected = this.state === 'handshake' ? 'a handshake reply' : 'the PSYNC reply';
    throw new ProtocolError(`expected ${expected} (+ or -), got ${describeByte(first)}`);
  }

  private onLine(raw: Buffer, content: Buffer, events: UpstreamEvent[]): void {
    switch (this.state) {
      case 'handshake': {
        events.push({
          type: 'handshake-reply',
          raw,
          ok: content[0] === PLUS,
          line: content.toString('utf8'),
        });
        this.handshakeRepliesLeft -= 1;
        if (this.handshakeRepliesLeft === 0) this.state = this.afterHandshake();
        return;
      }
      case 'psync-reply': {
        const reply = parsePsyncReply(content.toString('utf8'));
        events.push({ type: 'psync-reply', raw, reply });
        if (reply.kind === 'fullresync') this.state = 'waiting-snapshot';
        else if (reply.kind === 'continue') this.state = 'streaming';
        else this.state = 'psync-error';
        return;
      }
      case 'waiting-snapshot':
        this.onSnapshotHeader(raw, content, events);
        return;
      default:
        throw new Error(`unreachable: a line in state ${this.state}`);
    }
  }

  /** readSyncBulkPayload: "-…" aborts, "$EOF:<mark>" is diskless, "$<len>" a disk snapshot. */
  private onSnapshotHeader(raw: Buffer, content: Buffer, events: UpstreamEvent[]): void {
    if (content[0] === MINUS) {
      events.push({ type: 'snapshot-error', raw, message: content.toString('utf8', 1) });
      this.state = 'aborted';
      return;
    }
    if (content.subarray(0, EOF_PREFIX.length).equals(EOF_PREFIX)) {
      const mark = content.subarray(EOF_PREFIX.length);
      if (mark.length !== RUN_ID_SIZE) {
        throw new ProtocolError(
          `bad $EOF: mark length in the snapshot header: ${mark.length} bytes, not ${RUN_ID_SIZE}`,
        );
      }
      // Copied: `content` is a view of the caller's chunk.
      this.mark = Buffer.from(mark);
      this.carry = EMPTY;
      this.state = 'snapshot-eof';
      events.push({
        type: 'snapshot-start',
        raw,
        snapshot: { format: 'eof', mark: mark.toString('latin1') },
      });
      return;
    }
    // No proto-max-bulk-len here: an RDB can be many GB. The only bound is what a double counts
    // exactly, since snapshotTransferred and offsets are plain numbers.
    const text = content.toString('latin1', 1);
    const size = DECIMAL.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(size)) {
      throw new ProtocolError(`invalid snapshot length in the header: ${JSON.stringify(text)}`);
    }
    events.push({ type: 'snapshot-start', raw, snapshot: { format: 'disk', size } });
    this.snapshotLeft = size;
    this.state = 'snapshot-disk';
    if (size === 0) this.endSnapshot(size, events);
  }

  /** `$<len>`: exactly len bytes, no trailing CRLF; the stream starts on the next byte. */
  private readDiskPayload(chunk: Buffer, pos: number, events: UpstreamEvent[]): number {
    const end = Math.min(chunk.length, pos + this.snapshotLeft);
    const raw = pos === 0 && end === chunk.length ? chunk : chunk.subarray(pos, end);
    this.snapshotLeft -= raw.length;
    this.transferred += raw.length;
    events.push({ type: 'snapshot-data', raw });
    if (this.snapshotLeft === 0) this.endSnapshot(this.transferred, events);
    return end;
  }

  /** `$EOF:<mark>`: payload until the first occurrence of the mark, mark included. */
  private readEofPayload(chunk: Buffer, pos: number, events: UpstreamEvent[]): number {
    const data = pos === 0 ? chunk : chunk.subarray(pos);
    const markEnd = this.findMarkEnd(data);
    if (markEnd === -1) {
      this.transferred += data.length;
      events.push({ type: 'snapshot-data', raw: data });
      this.carry = lastBytes(this.carry, data, MARK_CARRY);
      return chunk.length;
    }
    this.transferred += markEnd;
    events.push({ type: 'snapshot-data', raw: data.subarray(0, markEnd) });
    this.carry = EMPTY;
    this.endSnapshot(this.transferred - RUN_ID_SIZE, events);
    return pos + markEnd;
  }

  /**
   * Where the mark ends in `data` (it may have begun in the carried bytes), or -1. A match that
   * starts in the carry ends within the first 39 bytes of `data`, so only that small window is
   * copied; the rest is searched in place.
   */
  private findMarkEnd(data: Buffer): number {
    if (this.carry.length > 0) {
      const window = Buffer.concat([this.carry, data.subarray(0, MARK_CARRY)]);
      const at = window.indexOf(this.mark);
      if (at !== -1 && at < this.carry.length) return at + RUN_ID_SIZE - this.carry.length;
    }
    const at = data.indexOf(this.mark);
    return at === -1 ? -1 : at + RUN_ID_SIZE;
  }

  private endSnapshot(size: number, events: UpstreamEvent[]): void {
    events.push({ type: 'snapshot-end', raw: EMPTY, size });
    this.state = 'streaming';
  }

  private lineTooLong(): ProtocolError {
    return new ProtocolError(`reply line from the master longer than ${this.maxLineLength} bytes`);
  }
}

/** slaveTryPartialResynchronization's reading of the reply, stricter where Redis shrugs. */
function parsePsyncReply(line: string): PsyncReply {
  if (line.startsWith('-')) {
    // Redis matches these prefixes with strncmp, so "-LOADING Redis is loading…" retries.
    const retryLater = line.startsWith('-NOMASTERLINK') || line.startsWith('-LOADING');
    return { kind: 'error', message: line.slice(1), retryLater };
  }
  if (line.startsWith('+FULLRESYNC')) {
    const [keyword, replid, offset, ...rest] = line.split(' ');
    if (keyword !== '+FULLRESYNC' || rest.length > 0 || offset === undefined) {
      throw new ProtocolError(`malformed +FULLRESYNC reply: ${JSON.stringify(line)}`);
    }
    if (replid === undefined || !REPLID.test(replid)) {
      throw new ProtocolError(`bad replid length in +FULLRESYNC: ${JSON.stringify(line)}`);
    }
    const value = DECIMAL.test(offset) ? Number(offset) : NaN;
    if (!Number.isSafeInteger(value)) {
      throw new ProtocolError(`bad offset in +FULLRESYNC: ${JSON.stringify(line)}`);
    }
    return { kind: 'fullresync', replid, offset: value };
  }
  if (line === '+CONTINUE') return { kind: 'continue', replid: undefined };
  if (line.startsWith('+CONTINUE ')) {
    // Redis 4+ names the (possibly new) replication id so the replica can switch to it.
    const replid = line.slice('+CONTINUE '.length);
    if (!REPLID.test(replid)) {
      throw new ProtocolError(`bad replid length in +CONTINUE: ${JSON.stringify(line)}`);
    }
    return { kind: 'continue', replid };
  }
  // Includes Valkey's +DUALCHANNELSYNC, which the proxy avoids by not offering the capability.
  throw new ProtocolError(`unexpected reply to PSYNC: ${JSON.stringify(line)}`);
}

/** The last `count` bytes of `previous` followed by `data`, copied (never a view of `data`). */
function lastBytes(previous: Buffer, data: Buffer, count: number): Buffer {
  if (data.length >= count) return Buffer.from(data.subarray(data.length - count));
  const joined = Buffer.concat([previous, data]);
  return joined.length > count ? joined.subarray(joined.length - count) : joined;
}

function describeByte(byte: number): string {
  return JSON.stringify(String.fromCharCode(byte));
}

export type { CommandLimits };
