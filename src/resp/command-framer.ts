// Framing of RESP *requests* (what a client or a replica sends, and the master's command
// stream): multibulk arrays of bulk strings and inline commands, as Redis's own
// processMultibulkBuffer / processInlineBuffer accept them. Pure: no sockets.
//
// The framer must consume exactly the bytes Redis would consume for each command, or a proxy
// that forwards frame by frame would drift out of step with the server. So it mirrors Redis
// (src/networking.c, 7.0) even where Redis is lenient:
//   * a length line ends at "\r" and the byte after it is skipped unchecked (Redis assumes "\n");
//   * the two bytes after a bulk payload are skipped unchecked (Redis assumes "\r\n");
//   * a request whose first byte is not '*' is inline, whatever that byte is (processInputBuffer).
// Where Redis's verdict depends on how reads happened to be split (its 64 KB checks look at the
// whole unparsed buffer), the framer judges as Redis does when bytes arrive one at a time, so
// the verdict is the same under any chunking.
import { ProtocolError } from '../errors.js';
import type { CommandLimits } from './limits.js';
import { PROTO_MAX_BULK_LEN, PROTO_MAX_MULTIBULK_LEN, REDIS_LIMITS } from './limits.js';

export interface CommandFrame {
  /**
   * Arguments as raw bytes (they may share memory with the pushed chunks). An empty inline line
   * (a bare "\n" or "\r\n" keepalive) gives [], and so does a multibulk header `*0` or `*-N`,
   * which Redis skips as "no command" (then `inline` is false).
   */
  args: Buffer[];
  /** Bytes the command occupied on the wire, framing included. Sums to the bytes pushed. */
  size: number;
  /** True for an inline command (or an empty keepalive line). */
  inline: boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const STAR = 0x2a;
const DOLLAR = 0x24;

type State =
  /** At a request boundary: the next byte picks multibulk ('*') or inline (processInputBuffer). */
  | 'request-start'
  /** Reading an inline request up to "\n". */
  | 'inline'
  /** Reading the "*<count>" line of a multibulk request up to "\r". */
  | 'count-line'
  /** Reading a "$<len>" line up to "\r". */
  | 'bulk-length-line'
  /** Reading a bulk payload and the two bytes after it. */
  | 'bulk-data';

/**
 * Incremental request framer. `push()` any chunking of the input and it returns the complete
 * commands in order; a partial command is held until the rest arrives. Malformed input (and
 * input over the limits) throws a ProtocolError whose message is Redis's wording after
 * "Protocol error: "; the framer must not be used after that.
 *
 * Size accounting: every byte pushed belongs to exactly one returned frame or is `buffered`
 * (sum of returned sizes + buffered === bytes pushed). Requests Redis ignores (`*0`, `*-1`,
 * empty lines) are returned as frames with no arguments rather than folded into a neighbour.
 */
export class CommandFramer {
  private limits: CommandLimits;
  private state: State = 'request-start';
  private failure: ProtocolError | undefined;
  /** Bytes of the incomplete frame that arrived in earlier chunks. */
  private carried = 0;
  /** Set by a step that completed a frame; `push()` collects it. */
  private readyArgs: Buffer[] | undefined;
  private readyInline = false;

  /** Pieces of the line being read (terminator excluded) and their total length. */
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  /**
   * A length line whose "\r" was seen: its first byte ('*' or '$' when well formed) and its
   * number (undefined where string2ll fails). It is acted on once the byte after "\r" arrives.
   * Plain fields, not an object: four length lines per command on a hot path.
   */
  private lengthLineSeen = false;
  private lengthLineFirst = 0;
  private lengthLineValue: number | undefined;

  /** Arguments of the multibulk request being read, and how many are still to come. */
  private args: Buffer[] = [];
  private argsLeft = 0;
  /** The bulk being read: its length, and the pieces (payload plus trailer) seen so far. */
  private bulkLength = 0;
  private bulkParts: Buffer[] = [];
  private bulkSeen = 0;

  constructor(limits: CommandLimits = REDIS_LIMITS) {
    this.limits = limits;
  }

  /** Tighten or relax the limits, e.g. once a client has authenticated. */
  setLimits(limits: CommandLimits): void {
    this.limits = limits;
  }

  push(chunk: Buffer): CommandFrame[] {
    if (this.failure !== undefined) throw this.failure;
    const frames: CommandFrame[] = [];
    let pos = 0;
    let frameStart = 0;
    try {
      while (pos < chunk.length) {
        pos = this.step(chunk, pos);
        if (this.readyArgs !== undefined) {
          const size = this.carried + pos - frameStart;
          frames.push({ args: this.readyArgs, size, inline: this.readyInline });
          this.readyArgs = undefined;
          this.carried = 0;
          frameStart = pos;
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.failure = err;
      throw err;
    }
    this.carried += chunk.length - frameStart;
    return frames;
  }

  /** Bytes held for an incomplete command (for memory accounting). */
  get buffered(): number {
    return this.carried;
  }

  /**
   * Drops the incomplete command and the pieces it holds (a connection that is closing: what it
   * sent need not stay in memory until its socket is gone). `buffered` is 0 after it; a framer
   * that failed stays failed.
   */
  discard(): void {
    this.state = 'request-start';
    this.carried = 0;
    this.lineParts = [];
    this.lineLength = 0;
    this.lengthLineSeen = false;
    this.args = [];
    this.argsLeft = 0;
    this.bulkParts = [];
    this.bulkSeen = 0;
  }

  /** Consumes from `chunk` at `pos` for the current state; returns the new position. */
  private step(chunk: Buffer, pos: number): number {
    switch (this.state) {
      case 'request-start':
        this.state = chunk[pos] === STAR ? 'count-line' : 'inline';
        return pos;
      case 'inline':
        return this.readInline(chunk, pos);
      case 'count-line':
      case 'bulk-length-line':
        return this.readLengthLine(chunk, pos);
      case 'bulk-data':
        return this.readBulk(chunk, pos);
    }
  }

  /** processInlineBuffer: one line up to "\n" (a "\r" before it is dropped), split into args. */
  private readInline(chunk: Buffer, pos: number): number {
    const newline = chunk.indexOf(LF, pos);
    const end = newline === -1 ? chunk.length : newline;
    this.lineLength += end - pos;
    if (this.lineLength > this.limits.maxInlineSize) {
      throw new ProtocolError('too big inline request');
    }
    if (newline === -1) {
      this.lineParts.push(chunk.subarray(pos));
      return chunk.length;
    }
    let line = this.takeLine(chunk.subarray(pos, newline));
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
    const args = splitArgs(line);
    if (args === undefined) throw new ProtocolError('unbalanced quotes in request');
    this.finish(args, true);
    return newline + 1;
  }

  /**
   * processMultibulkBuffer's "*<count>" and "$<len>" lines: Redis looks for "\r" only, waits for
   * one more byte, and skips that byte without checking that it is "\n".
   */
  private readLengthLine(chunk: Buffer, pos: number): number {
    if (this.lengthLineSeen) {
      this.lengthLineSeen = false;
      if (this.state === 'count-line') this.onCountLine(this.lengthLineValue);
      else this.onBulkLengthLine(this.lengthLineFirst, this.lengthLineValue);
      return pos + 1;
    }
    const cr = chunk.indexOf(CR, pos);
    const end = cr === -1 ? chunk.length : cr;
    this.lineLength += end - pos;
    if (this.lineLength > this.limits.maxInlineSize) {
      throw new ProtocolError(
        this.state === 'count-line' ? 'too big mbulk count string' : 'too big bulk count string',
      );
    }
    if (cr === -1) {
      this.lineParts.push(chunk.subarray(pos));
      return chunk.length;
    }
    // Parsed in place when the line lies in one chunk (the usual case): no Buffer views made.
    const line = this.lineParts.length > 0 ? this.takeLine(chunk.subarray(pos, cr)) : chunk;
    const start = line === chunk ? pos : 0;
    const stop = line === chunk ? cr : line.length;
    this.lineLength = 0;
    // An empty line means the "\r" itself sat where Redis expected '*' or '$'.
    this.lengthLineFirst = start < stop ? line[start] : CR;
    this.lengthLineValue = string2ll(line, start + 1, stop);
    this.lengthLineSeen = true;
    return cr + 1;
  }

  private onCountLine(count: number | undefined): void {
    if (count === undefined || count > this.limits.maxMultibulkLen) {
      const unauthenticated =
        this.limits.unauthenticated === true &&
        count !== undefined &&
        count <= PROTO_MAX_MULTIBULK_LEN;
      throw new ProtocolError(
        unauthenticated ? 'unauthenticated multibulk length' : 'invalid multibulk length',
      );
    }
    if (count <= 0) {
      // Redis returns with argc == 0 and processInputBuffer resets the client: no command.
      this.finish([], false);
      return;
    }
    this.args = [];
    this.argsLeft = count;
    this.state = 'bulk-length-line';
  }

  private onBulkLengthLine(first: number, length: number | undefined): void {
    if (first !== DOLLAR) {
      throw new ProtocolError(`expected '$', got '${String.fromCharCode(first)}'`);
    }
    if (length === undefined || length < 0 || length > this.limits.maxBulkLen) {
      const unauthenticated =
        this.limits.unauthenticated === true &&
        length !== undefined &&
        length >= 0 &&
        length <= PROTO_MAX_BULK_LEN;
      throw new ProtocolError(
        unauthenticated ? 'unauthenticated bulk length' : 'invalid bulk length',
      );
    }
    this.bulkLength = length;
    this.state = 'bulk-data';
  }

  /** A bulk payload plus the two trailing bytes, which Redis skips without looking at them. */
  private readBulk(chunk: Buffer, pos: number): number {
    const needed = this.bulkLength + 2 - this.bulkSeen;
    if (chunk.length - pos < needed) {
      // Keep the pieces and copy once when the bulk completes: no O(n²) re-concatenation.
      this.bulkParts.push(chunk.subarray(pos));
      this.bulkSeen += chunk.length - pos;
      return chunk.length;
    }
    const end = pos + needed;
    let arg: Buffer;
    if (this.bulkParts.length === 0) {
      arg = chunk.subarray(pos, pos + this.bulkLength);
    } else {
      this.bulkParts.push(chunk.subarray(pos, end));
      arg = Buffer.concat(this.bulkParts, this.bulkLength);
      this.bulkParts = [];
      this.bulkSeen = 0;
    }
    this.args.push(arg);
    this.argsLeft -= 1;
    if (this.argsLeft === 0) this.finish(this.args, false);
    else this.state = 'bulk-length-line';
    return end;
  }

  /** The line collected so far plus its last piece, as one Buffer; resets the collector. */
  private takeLine(last: Buffer): Buffer {
    if (this.lineParts.length === 0) {
      this.lineLength = 0;
      return last;
    }
    this.lineParts.push(last);
    const line = Buffer.concat(this.lineParts);
    this.lineParts = [];
    this.lineLength = 0;
    return line;
  }

  private finish(args: Buffer[], inline: boolean): void {
    this.readyArgs = args;
    this.readyInline = inline;
    this.args = [];
    this.state = 'request-start';
  }
}

/** Redis's LONG_STR_SIZE: string2ll rejects 21 characters or more without looking further. */
const LONG_STR_SIZE = 21;
const LLONG_MAX = 9223372036854775807n;
const LLONG_MIN = -9223372036854775808n;

/**
 * Redis's string2ll (src/util.c): an optional '-', then "0" alone or a digit 1-9 followed by
 * digits; no '+', no spaces, no leading zeros, within a signed 64-bit integer. Returns
 * undefined where string2ll fails. Values beyond 2^53 lose precision, which is harmless: they
 * are far over every limit the callers compare against.
 */
function string2ll(text: Buffer, start: number, end: number): number | undefined {
  const length = end - start;
  if (length <= 0 || length >= LONG_STR_SIZE) return undefined;
  if (length === 1 && text[start] === 0x30) return 0;
  const negative = text[start] === 0x2d;
  const digitsStart = negative ? start + 1 : start;
  const first = digitsStart < end ? text[digitsStart] : 0;
  if (first < 0x31 || first > 0x39) return undefined;
  let value = 0;
  for (let i = digitsStart; i < end; i++) {
    const c = text[i];
    if (c < 0x30 || c > 0x39) return undefined;
    value = value * 10 + (c - 0x30);
  }
  // Up to 15 digits is below 2^53: exact as a double, and far inside a long long.
  if (end - digitsStart > 15) {
    const exact = BigInt(text.toString('latin1', start, end));
    if (exact > LLONG_MAX || exact < LLONG_MIN) return undefined;
  }
  return negative ? -value : value;
}

/** C isspace() in the "C" locale: space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** The escapes sdssplitargs understands after a backslash inside double quotes. */
const ESCAPES: ReadonlyMap<number, number> = new Map([
  [0x6e, 0x0a], // \n
  [0x72, 0x0d], // \r
  [0x74, 0x09], // \t
  [0x62, 0x08], // \b
  [0x61, 0x07], // \a
]);

/**
 * Redis's sdssplitargs (src/sds.c), which processInlineBuffer uses: arguments separated by
 * blanks; "double quotes" with \xHH and \n \r \t \b \a escapes (any other escaped byte stands
 * for itself); 'single quotes' where only \' is an escape; a closing quote must be followed by a
 * blank or the end. sdssplitargs works on a C string, so a NUL byte ends the line. Returns
 * undefined for unbalanced quotes, as sdssplitargs returns NULL.
 */
export function splitArgs(input: Buffer): Buffer[] | undefined {
  const nul = input.indexOf(0);
  const line = nul === -1 ? input : input.subarray(0, nul);
  // Reading past the end gives 0, like the C string's terminator.
  const at = (i: number): number => (i < line.length ? line[i] : 0);
  const args: Buffer[] = [];
  let p = 0;
  for (;;) {
    while (p < line.length && isSpace(at(p))) p++;
    if (p >= line.length) return args;
    const current: number[] = [];
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        if (
          c === 0x5c &&
          at(p + 1) === 0x78 &&
          hexValue(at(p + 2)) >= 0 &&
          hexValue(at(p + 3)) >= 0
        ) {
          current.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === 0x5c && at(p + 1) !== 0) {
          p += 1;
          current.push(ESCAPES.get(at(p)) ?? at(p));
        } else if (c === 0x22) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === 0) {
          return undefined;
        } else {
          current.push(c);
        }
      } else if (inSingle) {
        if (c === 0x5c && at(p + 1) === 0x27) {
          p += 1;
          current.push(0x27);
        } else if (c === 0x27) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === 0) {
          return undefined;
        } else {
          current.push(c);
        }
      } else if (c === 0x20 || c === LF || c === CR || c === 0x09 || c === 0) {
        done = true;
      } else if (c === 0x22) {
        inDouble = true;
      } else if (c === 0x27) {
        inSingle = true;
      } else {
        current.push(c);
      }
      // As in C: step past the byte just handled unless it is the terminator.
      if (at(p) !== 0) p += 1;
    }
    args.push(Buffer.from(current));
  }
}
