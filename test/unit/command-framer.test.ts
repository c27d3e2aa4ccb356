// CommandFramer against Redis's processMultibulkBuffer / processInlineBuffer: frames, exact
// sizes and Redis's error wording, under every chunking.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RbuddyError } from '../../src/errors.js';
import { CommandFramer, splitArgs } from '../../src/resp/command-framer.js';
import type { CommandFrame } from '../../src/resp/command-framer.js';
import { encodeCommand } from '../../src/resp/encode.js';
import type { CommandLimits } from '../../src/resp/limits.js';
import {
  PROTO_INLINE_MAX_SIZE,
  REDIS_LIMITS,
  UNAUTHENTICATED_LIMITS,
} from '../../src/resp/limits.js';
import { chunkings, splitAt } from '../helpers/chunkings.js';
import type { ChunkingOptions } from '../helpers/chunkings.js';

/** A frame with its arguments as latin1 strings, for readable comparisons. */
interface Frame {
  args: string[];
  size: number;
  inline: boolean;
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const multibulk = (...args: string[]): Frame => {
  const size = encodeCommand(args.map(bytes)).length;
  return { args, size, inline: false };
};
const inline = (size: number, ...args: string[]): Frame => ({ args, size, inline: true });
const show = (frame: CommandFrame): Frame => ({
  args: frame.args.map((a) => a.toString('latin1')),
  size: frame.size,
  inline: frame.inline,
});

/** Pushes every chunk and checks the size invariant after each push. */
function frameChunks(chunks: readonly Buffer[], limits?: CommandLimits): Frame[] {
  const framer = new CommandFramer(limits);
  const frames: Frame[] = [];
  let pushed = 0;
  let framed = 0;
  for (const chunk of chunks) {
    pushed += chunk.length;
    for (const frame of framer.push(chunk)) {
      framed += frame.size;
      frames.push(show(frame));
    }
    assert.equal(framed + framer.buffered, pushed, 'sizes + buffered must equal bytes pushed');
  }
  return frames;
}

/** The fixture gives `expected` whole, byte by byte and split at every boundary. */
function assertFrames(
  input: string | Buffer,
  expected: Frame[],
  limits?: CommandLimits,
  options?: ChunkingOptions,
): void {
  const buffer = typeof input === 'string' ? bytes(input) : input;
  for (const { name, chunks } of chunkings(buffer, options)) {
    assert.deepEqual(frameChunks(chunks, limits), expected, name);
  }
}

/** The fixture is rejected with Redis's wording under every chunking. */
function assertRejected(
  input: string | Buffer,
  message: string,
  limits?: CommandLimits,
  options?: ChunkingOptions,
): void {
  const buffer = typeof input === 'string' ? bytes(input) : input;
  for (const { name, chunks } of chunkings(buffer, options)) {
    assert.throws(
      () => frameChunks(chunks, limits),
      (err: unknown) =>
        err instanceof RbuddyError && err.code === 'RBUDDY_ERR_PROTOCOL' && err.message === message,
      `${name}: expected "${message}"`,
    );
  }
}

/** Tiny limits so that "over the limit" fixtures stay small enough for every split point. */
const TINY: CommandLimits = { maxBulkLen: 8, maxMultibulkLen: 3, maxInlineSize: 16 };
const TINY_UNAUTHENTICATED: CommandLimits = { ...TINY, unauthenticated: true };
const SET_K_HELLO = '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n';

describe('CommandFramer: multibulk requests', () => {
  it('frames one command with its exact wire size', () => {
    assertFrames(SET_K_HELLO, [multibulk('SET', 'k', 'hello')]);
  });

  it('frames pipelined commands in order', () => {
    assertFrames(SET_K_HELLO + '*1\r\n$4\r\nPING\r\n' + SET_K_HELLO, [
      multibulk('SET', 'k', 'hello'),
      multibulk('PING'),
      multibulk('SET', 'k', 'hello'),
    ]);
  });

  it('keeps CR, LF and NUL bytes inside bulk payloads', () => {
    assertFrames('*2\r\n$4\r\n\r\n\r\n\r\n$3\r\n\0*$\r\n', [multibulk('\r\n\r\n', '\0*$')]);
  });

  it('frames an empty bulk string', () => {
    assertFrames('*2\r\n$3\r\nGET\r\n$0\r\n\r\n', [multibulk('GET', '')]);
  });

  it('returns *0 and negative counts as argument-less frames that carry their bytes', () => {
    // Redis skips them as "no command"; returning them keeps sizes summing to the bytes pushed.
    assertFrames('*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n', [
      { args: [], size: 4, inline: false },
      { args: [], size: 5, inline: false },
      { args: [], size: 6, inline: false },
      multibulk('PING'),
    ]);
  });

  it('reads counts as a signed 64-bit integer, as string2ll does', () => {
    const min = '-9223372036854775808';
    assertFrames(`*${min}\r\n`, [{ args: [], size: min.length + 3, inline: false }]);
    assertRejected('*-9223372036854775809\r\n', 'invalid multibulk length');
    assertRejected('*-10000000000000000000\r\n', 'invalid multibulk length');
  });

  it('skips the byte after a length line CR and after a payload unchecked, as Redis does', () => {
    // processMultibulkBuffer only looks for "\r" and then steps over two bytes.
    assertFrames('*1\rX$1\rYaZZ*1\r\n$1\r\nb\r\n', [
      { args: ['a'], size: 11, inline: false },
      multibulk('b'),
    ]);
  });

  it('accepts lengths exactly at the limits', () => {
    assertFrames(
      '*3\r\n$8\r\n12345678\r\n$0\r\n\r\n$1\r\nx\r\n',
      [multibulk('12345678', '', 'x')],
      TINY,
    );
    const tenArgs = Array.from({ length: 10 }, (_, i) => String(i));
    assertFrames(encodeCommand(tenArgs), [multibulk(...tenArgs)], UNAUTHENTICATED_LIMITS);
  });

  it('accepts a 16 KB bulk from an unauthenticated client', () => {
    const value = 'v'.repeat(16384);
    assertFrames(
      encodeCommand(['SET', 'k', value]),
      [multibulk('SET', 'k', value)],
      UNAUTHENTICATED_LIMITS,
      {
        stride: 97,
      },
    );
  });

  it('returns a large bulk as one argument whatever the chunking', () => {
    const value = Buffer.alloc(3 * 65536 + 7, 0x61);
    const input = encodeCommand(['SET', 'big', value]);
    for (const size of [1000, 65536, 65537]) {
      const chunks = splitAt(
        input,
        Array.from({ length: Math.ceil(input.length / size) }, (_, i) => i * size),
      );
      const framer = new CommandFramer();
      const frames = chunks.flatMap((chunk) => framer.push(chunk));
      assert.equal(frames.length, 1);
      assert.equal(frames[0]?.size, input.length);
      assert.ok(frames[0]?.args[2]?.equals(value));
    }
  });
});

describe('CommandFramer: inline requests', () => {
  it('frames inline commands ended by CRLF or a bare LF', () => {
    assertFrames('PING\r\nECHO hi\nSET k v\r\n', [
      inline(6, 'PING'),
      inline(8, 'ECHO', 'hi'),
      inline(9, 'SET', 'k', 'v'),
    ]);
  });

  it('returns empty lines (keepalives) as inline frames without arguments', () => {
    assertFrames('\n\r\n\r\r\n  \t\r\nPING\n', [
      inline(1),
      inline(2),
      inline(3),
      inline(5),
      inline(5, 'PING'),
    ]);
  });

  it('splits on runs of blanks like sdssplitargs', () => {
    assertFrames('  SET\t k   v  \r\n', [inline(16, 'SET', 'k', 'v')]);
  });

  it('reads double quotes with hex and C escapes', () => {
    assertFrames('SET "a b" "\\x41\\x7a\\n\\r\\t\\b\\a\\"\\\\\\q"\r\n', [
      inline(38, 'SET', 'a b', 'Az\n\r\t\b\x07"\\q'),
    ]);
  });

  it("reads single quotes where only \\' is an escape", () => {
    assertFrames("SET 'it\\'s' '\\n'\r\n", [inline(18, 'SET', "it's", '\\n')]);
  });

  it('treats a bad hex escape as an escaped x', () => {
    assertFrames('ECHO "\\x4g"\r\n', [inline(13, 'ECHO', 'x4g')]);
  });

  it('joins a quoted part to the unquoted text before it', () => {
    assertFrames('ECHO ab"c d"\r\n', [inline(14, 'ECHO', 'abc d')]);
  });

  it('ends the line at a NUL byte, as sdssplitargs reads a C string', () => {
    assertFrames('GET a\0 b\r\n', [inline(10, 'GET', 'a')]);
  });

  it('counts a CR before the LF against the inline limit, as Redis does byte by byte', () => {
    assertFrames(`${'a'.repeat(16)}\n`, [inline(17, 'a'.repeat(16))], TINY);
    assertFrames(`${'a'.repeat(15)}\r\n`, [inline(17, 'a'.repeat(15))], TINY);
    assertRejected(`${'a'.repeat(16)}\r\n`, 'too big inline request', TINY);
  });

  it('mixes inline and multibulk requests', () => {
    assertFrames(`PING\r\n${SET_K_HELLO}\nPING\r\n`, [
      inline(6, 'PING'),
      multibulk('SET', 'k', 'hello'),
      inline(1),
      inline(6, 'PING'),
    ]);
  });
});

describe('CommandFramer: malformed requests', () => {
  it('rejects a count that is not a number', () => {
    for (const count of ['abc', '', '+1', '01', '-0', ' 1', '1 ', '99999999999999999999']) {
      assertRejected(`*${count}\r\n`, 'invalid multibulk length');
    }
  });

  it('rejects an array over 1M elements', () => {
    assertRejected('*1048577\r\n', 'invalid multibulk length');
    assertRejected('*4\r\n', 'invalid multibulk length', TINY);
  });

  it('rejects a bulk length that is not a number or is negative', () => {
    for (const length of ['abc', '', '-1', '+1', '01', '1x']) {
      assertRejected(`*1\r\n$${length}\r\n`, 'invalid bulk length');
    }
  });

  it('rejects a bulk over 512 MB', () => {
    assertRejected('*1\r\n$536870913\r\n', 'invalid bulk length');
    assertRejected('*1\r\n$9\r\n', 'invalid bulk length', TINY);
  });

  it("names the byte found where '$' was expected", () => {
    assertRejected('*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n', "expected '$', got 'f'");
    assertRejected('*1\r\n\r\n', "expected '$', got '\r'");
  });

  it('rejects an inline request over 64 KB', () => {
    assertRejected('a'.repeat(PROTO_INLINE_MAX_SIZE + 1), 'too big inline request', undefined, {
      stride: 4099,
    });
    assertRejected(
      `${'a'.repeat(PROTO_INLINE_MAX_SIZE + 1)}\r\n`,
      'too big inline request',
      undefined,
      {
        stride: 4099,
      },
    );
    assertRejected('a'.repeat(17), 'too big inline request', TINY);
  });

  it('rejects count and bulk-length lines over 64 KB', () => {
    assertRejected(
      `*${'1'.repeat(PROTO_INLINE_MAX_SIZE)}`,
      'too big mbulk count string',
      undefined,
      {
        stride: 4099,
      },
    );
    assertRejected(`*${'1'.repeat(16)}\r\n`, 'too big mbulk count string', TINY);
    assertRejected(
      `*1\r\n$${'1'.repeat(PROTO_INLINE_MAX_SIZE)}`,
      'too big bulk count string',
      undefined,
      {
        stride: 4099,
      },
    );
    assertRejected(`*1\r\n$${'1'.repeat(16)}\r\n`, 'too big bulk count string', TINY);
  });

  it('rejects unbalanced quotes', () => {
    for (const line of ['SET "abc', "SET 'abc", 'SET "a"b', "SET 'a'b", 'SET "abc\\"']) {
      assertRejected(`${line}\r\n`, 'unbalanced quotes in request');
    }
  });

  it('uses the unauthenticated wording within the protocol limits', () => {
    assertRejected('*11\r\n', 'unauthenticated multibulk length', UNAUTHENTICATED_LIMITS);
    assertRejected('*1\r\n$16385\r\n', 'unauthenticated bulk length', UNAUTHENTICATED_LIMITS);
    assertRejected('*4\r\n', 'unauthenticated multibulk length', TINY_UNAUTHENTICATED);
    assertRejected('*1\r\n$9\r\n', 'unauthenticated bulk length', TINY_UNAUTHENTICATED);
  });

  it('keeps the invalid wording beyond the protocol limits even when unauthenticated', () => {
    assertRejected('*1048577\r\n', 'invalid multibulk length', UNAUTHENTICATED_LIMITS);
    assertRejected('*x\r\n', 'invalid multibulk length', UNAUTHENTICATED_LIMITS);
    assertRejected('*1\r\n$536870913\r\n', 'invalid bulk length', UNAUTHENTICATED_LIMITS);
    assertRejected('*1\r\n$-1\r\n', 'invalid bulk length', UNAUTHENTICATED_LIMITS);
  });

  it('keeps failing after a protocol error', () => {
    const framer = new CommandFramer();
    assert.throws(() => framer.push(bytes('*x\r\n')), { code: 'RBUDDY_ERR_PROTOCOL' });
    assert.throws(() => framer.push(bytes('PING\r\n')), { code: 'RBUDDY_ERR_PROTOCOL' });
  });
});

describe('CommandFramer: limits and accounting', () => {
  it('relaxes the limits once a client has authenticated', () => {
    const framer = new CommandFramer(UNAUTHENTICATED_LIMITS);
    const twelve = encodeCommand(Array.from({ length: 12 }, () => 'x'));
    assert.throws(() => framer.push(twelve), { code: 'RBUDDY_ERR_PROTOCOL' });
    const relaxed = new CommandFramer(UNAUTHENTICATED_LIMITS);
    assert.equal(relaxed.push(encodeCommand(['AUTH', 'pw'])).length, 1);
    relaxed.setLimits(REDIS_LIMITS);
    assert.equal(relaxed.push(twelve).length, 1);
  });

  it('reports the bytes of an incomplete command as buffered', () => {
    const framer = new CommandFramer();
    assert.deepEqual(framer.push(bytes('*0\r\n*2\r\n$3\r\nGET')).map(show), [
      { args: [], size: 4, inline: false },
    ]);
    assert.equal(framer.buffered, 11);
    assert.deepEqual(framer.push(bytes('\r\n$1\r\nk\r\nPI')).map(show), [multibulk('GET', 'k')]);
    assert.equal(framer.buffered, 2);
    assert.deepEqual(framer.push(bytes('NG\r\n')).map(show), [inline(6, 'PING')]);
    assert.equal(framer.buffered, 0);
  });

  it('discards an incomplete command: nothing buffered, the next command framed from scratch', () => {
    const framer = new CommandFramer();
    framer.push(bytes('*2\r\n$3\r\nGET\r\n$10\r\nabc'));
    assert.equal(framer.buffered, 21);
    framer.discard();
    assert.equal(framer.buffered, 0);
    assert.deepEqual(framer.push(bytes('*1\r\n$4\r\nPING\r\n')).map(show), [multibulk('PING')]);
  });
});

describe('splitArgs', () => {
  it('returns no arguments for a blank line and undefined for an open quote', () => {
    assert.deepEqual(splitArgs(bytes(' \t\v\f ')), []);
    assert.equal(splitArgs(bytes('"open')), undefined);
  });
});

describe('CommandFramer: properties', () => {
  /** An argument: any bytes, with CR, LF, '*' and '$' made likely. */
  const arg = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc
      .constantFrom('\r\n', '\r', '\n', '*1\r\n', '$3\r\n', '')
      .map((s) => new Uint8Array(bytes(s))),
  );
  const word = fc.stringMatching(/^[A-Za-z0-9:_.-]{1,12}$/);
  const request = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .array(arg, { minLength: 1, maxLength: 6 })
        .map((args) => ({ kind: 'multibulk' as const, args })),
    },
    {
      weight: 2,
      arbitrary: fc
        .array(word, { minLength: 1, maxLength: 4 })
        .map((words) => ({ kind: 'inline' as const, words })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('\n', '\r\n', '*0\r\n', '*-1\r\n')
        .map((text) => ({ kind: 'empty' as const, text })),
    },
  );

  it('gives the same frames and sizes for any chunking of a random command stream', () => {
    fc.assert(
      fc.property(
        fc.array(request, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (requests, cuts) => {
          const wire: Buffer[] = [];
          const expected: Frame[] = [];
          for (const r of requests) {
            if (r.kind === 'multibulk') {
              const args = r.args.map((a) => Buffer.from(a));
              const encoded = encodeCommand(args);
              wire.push(encoded);
              expected.push({
                args: args.map((a) => a.toString('latin1')),
                size: encoded.length,
                inline: false,
              });
            } else if (r.kind === 'inline') {
              const line = bytes(`${r.words.join(' ')}\r\n`);
              wire.push(line);
              expected.push(inline(line.length, ...r.words));
            } else {
              wire.push(bytes(r.text));
              expected.push({ args: [], size: r.text.length, inline: !r.text.startsWith('*') });
            }
          }
          const input = Buffer.concat(wire);
          const chunks = splitAt(
            input,
            cuts.map((c) => c % (input.length + 1)),
          );
          assert.deepEqual(frameChunks(chunks), expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
