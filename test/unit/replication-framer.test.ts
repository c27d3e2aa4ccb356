// ReplicationFramer against what a master sends (Redis replication.c: syncWithMaster,
// slaveTryPartialResynchronization, readSyncBulkPayload), under every chunking.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RbuddyError } from '../../src/errors.js';
import { ReplicationFramer } from '../../src/resp/replication-framer.js';
import type {
  ReplicationFramerOptions,
  ReplicationPhase,
  UpstreamEvent,
} from '../../src/resp/replication-framer.js';
import { chunkings, mergeEvents, splitAt } from '../helpers/chunkings.js';
import type { ChunkingOptions } from '../helpers/chunkings.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const REPLID = '8de1f4e0c2f1d0b63a7c0b5f1b6a9f3a2e4d5c6b';
const MARK = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const FULLRESYNC = `+FULLRESYNC ${REPLID} 1234\r\n`;
const STREAM = '*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n';

/** An event with `raw` as a latin1 string, for readable comparisons. */
type Shown = {
  [T in UpstreamEvent['type']]: Omit<Extract<UpstreamEvent, { type: T }>, 'raw'> & { raw: string };
}[UpstreamEvent['type']];
const show = (event: UpstreamEvent): Shown => ({ ...event, raw: event.raw.toString('latin1') });

// Expected events, built from the bytes they stand for.
const keepalive = (raw: string): Shown => ({ type: 'keepalive', raw });
const reply = (line: string): Shown => ({
  type: 'handshake-reply',
  raw: `${line}\r\n`,
  ok: line.startsWith('+'),
  line,
});
const fullresync = (raw = FULLRESYNC): Shown => ({
  type: 'psync-reply',
  raw,
  reply: { kind: 'fullresync', replid: REPLID, offset: 1234 },
});
const diskStart = (size: number): Shown => ({
  type: 'snapshot-start',
  raw: `$${size}\r\n`,
  snapshot: { format: 'disk', size },
});
const eofStart = (mark = MARK): Shown => ({
  type: 'snapshot-start',
  raw: `$EOF:${mark}\r\n`,
  snapshot: { format: 'eof', mark },
});
const data = (raw: string): Shown => ({ type: 'snapshot-data', raw });
const end = (size: number): Shown => ({ type: 'snapshot-end', raw: '', size });
const stream = (raw: string): Shown => ({ type: 'stream', raw });

interface Outcome {
  events: Shown[];
  phase: ReplicationPhase;
  snapshotTransferred: number;
  streamBytes: number;
  buffered: number;
}

/**
 * Pushes every chunk, checking that the raw bytes of the events are exactly the bytes pushed.
 * Like a session seeing the replica's SYNC, it calls expectSnapshot() after a PSYNC error when
 * `syncAfterError` is set.
 */
function run(
  options: ReplicationFramerOptions,
  chunks: readonly Buffer[],
  syncAfterError = false,
): Outcome {
  const framer = new ReplicationFramer(options);
  const events: UpstreamEvent[] = [];
  for (const chunk of chunks) {
    const got = framer.push(chunk);
    events.push(...got);
    for (const event of got) {
      if (syncAfterError && event.type === 'psync-reply' && event.reply.kind === 'error') {
        framer.expectSnapshot();
      }
    }
  }
  const input = Buffer.concat(chunks);
  const relayed = Buffer.concat(events.map((e) => e.raw));
  assert.ok(relayed.equals(input), 'the raw bytes of the events must be the bytes pushed');
  return {
    events: mergeEvents(events).map(show),
    phase: framer.phase,
    snapshotTransferred: framer.snapshotTransferred,
    streamBytes: framer.streamBytes,
    buffered: framer.buffered,
  };
}

/** Chunks cut again at `offset`, where the test has to act between two pushes. */
function cutAt(chunks: readonly Buffer[], offset: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (const chunk of chunks) {
    const cut = offset - start;
    if (cut > 0 && cut < chunk.length) out.push(chunk.subarray(0, cut), chunk.subarray(cut));
    else out.push(chunk);
    start += chunk.length;
  }
  return out;
}

interface Fixture {
  options: ReplicationFramerOptions;
  input: string | Buffer;
  expected: Partial<Outcome> & { events: Shown[] };
  /** The byte offset where the replica sends SYNC after a PSYNC error. */
  syncAt?: number;
  chunking?: ChunkingOptions;
}

/** The fixture gives the same outcome whole, byte by byte and split at every boundary. */
function assertFraming({ options, input, expected, syncAt, chunking }: Fixture): void {
  const buffer = typeof input === 'string' ? bytes(input) : input;
  for (const { name, chunks } of chunkings(buffer, chunking)) {
    const split = syncAt === undefined ? chunks : cutAt(chunks, syncAt);
    const outcome = run(options, split, syncAt !== undefined);
    const { events, ...rest } = expected;
    assert.deepEqual(outcome.events, events, name);
    for (const [key, value] of Object.entries(rest)) {
      assert.deepEqual(outcome[key as keyof Outcome], value, `${name}: ${key}`);
    }
  }
}

/** The fixture is rejected under every chunking, leaving the framer failed. */
function assertRejected(
  options: ReplicationFramerOptions,
  input: string | Buffer,
  chunking?: ChunkingOptions,
): void {
  const buffer = typeof input === 'string' ? bytes(input) : input;
  for (const { name, chunks } of chunkings(buffer, chunking)) {
    const framer = new ReplicationFramer(options);
    assert.throws(
      () => {
        for (const chunk of chunks) framer.push(chunk);
      },
      (err: unknown) => err instanceof RbuddyError && err.code === 'RBUDDY_ERR_PROTOCOL',
      name,
    );
    assert.equal(framer.phase, 'failed', name);
  }
}

const PSYNC = { handshakeReplies: 0, mode: 'psync' } as const;
const SYNC = { handshakeReplies: 0, mode: 'sync' } as const;

describe('ReplicationFramer: handshake and PSYNC replies', () => {
  it('frames handshake replies, error replies to REPLCONF and keepalives anywhere before PSYNC', () => {
    assertFraming({
      options: { handshakeReplies: 4, mode: 'psync' },
      input: `\n+OK\r\n\n\n-ERR Unrecognized REPLCONF option: ip-address\r\n+OK\r\n\n+OK\r\n\n\n${FULLRESYNC}`,
      expected: {
        events: [
          keepalive('\n'),
          reply('+OK'),
          keepalive('\n\n'),
          reply('-ERR Unrecognized REPLCONF option: ip-address'),
          reply('+OK'),
          keepalive('\n'),
          reply('+OK'),
          keepalive('\n\n'),
          fullresync(),
        ],
        phase: 'waiting-snapshot',
        buffered: 0,
      },
    });
  });

  it('accepts lines ended by a bare LF, as connSyncReadLine does', () => {
    assertFraming({
      options: { handshakeReplies: 1, mode: 'psync' },
      input: `-NOAUTH Authentication required.\n+FULLRESYNC ${REPLID} 1234\n$3\nabc`,
      expected: {
        events: [
          {
            type: 'handshake-reply',
            raw: '-NOAUTH Authentication required.\n',
            ok: false,
            line: '-NOAUTH Authentication required.',
          },
          fullresync(`+FULLRESYNC ${REPLID} 1234\n`),
          { type: 'snapshot-start', raw: '$3\n', snapshot: { format: 'disk', size: 3 } },
          data('abc'),
          end(3),
        ],
        phase: 'streaming',
      },
    });
  });

  it('streams everything after +CONTINUE without a replid', () => {
    assertFraming({
      options: { handshakeReplies: 1, mode: 'psync' },
      input: `+OK\r\n\n+CONTINUE\r\n${STREAM}`,
      expected: {
        events: [
          reply('+OK'),
          keepalive('\n'),
          {
            type: 'psync-reply',
            raw: '+CONTINUE\r\n',
            reply: { kind: 'continue', replid: undefined },
          },
          stream(STREAM),
        ],
        phase: 'streaming',
        snapshotTransferred: 0,
        streamBytes: STREAM.length,
      },
    });
  });

  it('reads the new replid from +CONTINUE <replid>', () => {
    // Bytes that look like framing are stream bytes once streaming: "\n", "+", "$".
    const tail = '\n+OK\r\n$3\r\n';
    assertFraming({
      options: PSYNC,
      input: `+CONTINUE ${REPLID}\r\n${tail}`,
      expected: {
        events: [
          {
            type: 'psync-reply',
            raw: `+CONTINUE ${REPLID}\r\n`,
            reply: { kind: 'continue', replid: REPLID },
          },
          stream(tail),
        ],
        streamBytes: tail.length,
      },
    });
  });

  it('marks -NOMASTERLINK and -LOADING as retry later, other errors not', () => {
    const cases = [
      ["-NOMASTERLINK Can't SYNC while not connected with my master", true],
      ['-LOADING Redis is loading the dataset in memory', true],
      ["-ERR unknown command 'PSYNC'", false],
      ['-NOPERM this user has no permissions', false],
    ] as const;
    for (const [line, retryLater] of cases) {
      assertFraming({
        options: { handshakeReplies: 1, mode: 'psync' },
        input: `+PONG\r\n\n${line}\r\n`,
        expected: {
          events: [
            reply('+PONG'),
            keepalive('\n'),
            {
              type: 'psync-reply',
              raw: `${line}\r\n`,
              reply: { kind: 'error', message: line.slice(1), retryLater },
            },
          ],
          phase: 'psync-reply',
        },
      });
    }
  });

  it('rejects bytes after a PSYNC error unless the replica fell back to SYNC', () => {
    assertRejected(PSYNC, '-ERR unknown command\r\n\n');
    assertRejected(PSYNC, '-LOADING Redis is loading\r\n$3\r\nabc');
  });

  it('rejects expectSnapshot() when no PSYNC failed', () => {
    const framer = new ReplicationFramer(PSYNC);
    assert.throws(() => framer.expectSnapshot(), { code: 'RBUDDY_ERR_PROTOCOL' });
    framer.push(bytes(FULLRESYNC));
    assert.throws(() => framer.expectSnapshot(), { code: 'RBUDDY_ERR_PROTOCOL' });
  });

  it('refuses a negative handshake reply count', () => {
    assert.throws(() => new ReplicationFramer({ handshakeReplies: -1, mode: 'psync' }), RangeError);
  });
});

describe('ReplicationFramer: snapshots', () => {
  it('frames FULLRESYNC, keepalives, a disk snapshot and the stream after it', () => {
    const rdb = 'REDIS0011\xfa\tredis-ver\x057.0.0\r\n$5\r\n\xff\x00\x01';
    assertFraming({
      options: { handshakeReplies: 2, mode: 'psync' },
      input: `+PONG\r\n+OK\r\n\n${FULLRESYNC}\n\n\n$${rdb.length}\r\n${rdb}${STREAM}`,
      expected: {
        events: [
          reply('+PONG'),
          reply('+OK'),
          keepalive('\n'),
          fullresync(),
          keepalive('\n\n\n'),
          diskStart(rdb.length),
          data(rdb),
          end(rdb.length),
          stream(STREAM),
        ],
        phase: 'streaming',
        snapshotTransferred: rdb.length,
        streamBytes: STREAM.length,
        buffered: 0,
      },
    });
  });

  it('ends a zero-length disk snapshot right after its header', () => {
    assertFraming({
      options: PSYNC,
      input: `${FULLRESYNC}$0\r\n${STREAM}`,
      expected: {
        events: [fullresync(), diskStart(0), end(0), stream(STREAM)],
        snapshotTransferred: 0,
        streamBytes: STREAM.length,
      },
    });
    assertFraming({
      options: PSYNC,
      input: `${FULLRESYNC}$0\r\n`,
      expected: { events: [fullresync(), diskStart(0), end(0)], phase: 'streaming' },
    });
  });

  it('finds the $EOF: mark after prefixes of it inside the RDB, with the stream in the same chunk', () => {
    // Every proper prefix of the mark, and the mark minus its last byte, appear in the payload.
    const prefixes = [1, 2, 20, 38, 39].map((n) => `${MARK.slice(0, n)}x`).join('');
    const rdb = `REDIS0011${prefixes}\xff${MARK.slice(0, 39)}`;
    const payload = `${rdb}${MARK}`;
    assertFraming({
      options: { handshakeReplies: 1, mode: 'psync' },
      input: `+OK\r\n${FULLRESYNC}\n$EOF:${MARK}\r\n${payload}${STREAM}`,
      expected: {
        events: [
          reply('+OK'),
          fullresync(),
          keepalive('\n'),
          eofStart(),
          data(payload),
          end(rdb.length),
          stream(STREAM),
        ],
        phase: 'streaming',
        snapshotTransferred: payload.length,
        streamBytes: STREAM.length,
      },
    });
  });

  it('ends an empty diskless snapshot at the mark', () => {
    assertFraming({
      options: PSYNC,
      input: `${FULLRESYNC}$EOF:${MARK}\r\n${MARK}`,
      expected: {
        events: [fullresync(), eofStart(), data(MARK), end(0)],
        phase: 'streaming',
        snapshotTransferred: 40,
        buffered: 0,
      },
    });
  });

  it('holds at most 39 bytes while waiting for the mark', () => {
    const framer = new ReplicationFramer(PSYNC);
    framer.push(bytes(`${FULLRESYNC}$EOF:${MARK}\r\n`));
    framer.push(Buffer.alloc(10));
    assert.equal(framer.buffered, 10);
    framer.push(Buffer.alloc(100_000));
    assert.equal(framer.buffered, 39);
    assert.equal(framer.phase, 'snapshot');
    assert.equal(framer.snapshotTransferred, 100_010);
  });

  it('returns snapshot and stream bytes as views of the pushed chunk', () => {
    const framer = new ReplicationFramer(PSYNC);
    framer.push(bytes(`${FULLRESYNC}$4\r\n`));
    const chunk = bytes(`abcd${STREAM}`);
    const [snapshotData, , streamData] = framer.push(chunk);
    assert.equal(snapshotData?.raw.buffer, chunk.buffer);
    assert.equal(streamData?.raw.buffer, chunk.buffer);
    assert.equal(streamData?.raw.byteOffset, chunk.byteOffset + 4);
  });

  it('reports the master aborting instead of sending a snapshot', () => {
    assertFraming({
      options: PSYNC,
      input: `${FULLRESYNC}\n-ERR BGSAVE failed, replication can't continue\r\n`,
      expected: {
        events: [
          fullresync(),
          keepalive('\n'),
          {
            type: 'snapshot-error',
            raw: "-ERR BGSAVE failed, replication can't continue\r\n",
            message: "ERR BGSAVE failed, replication can't continue",
          },
        ],
        phase: 'failed',
      },
    });
    assertRejected(PSYNC, `${FULLRESYNC}-ERR aborted\r\n\n`);
  });

  it('reads the snapshot header right after the handshake in SYNC mode', () => {
    assertFraming({
      options: { handshakeReplies: 1, mode: 'sync' },
      input: `+OK\r\n\n\n$5\r\nhello${STREAM}`,
      expected: {
        events: [
          reply('+OK'),
          keepalive('\n\n'),
          diskStart(5),
          data('hello'),
          end(5),
          stream(STREAM),
        ],
        snapshotTransferred: 5,
        streamBytes: STREAM.length,
      },
    });
    assertFraming({
      options: SYNC,
      input: `$EOF:${MARK}\r\nrdb${MARK}`,
      expected: { events: [eofStart(), data(`rdb${MARK}`), end(3)], phase: 'streaming' },
    });
  });

  it('falls back to SYNC after a PSYNC error when the replica asks for it', () => {
    const error = "-ERR unknown command 'PSYNC'\r\n";
    assertFraming({
      options: { handshakeReplies: 1, mode: 'psync' },
      input: `+OK\r\n${error}\n$EOF:${MARK}\r\nrdb${MARK}${STREAM}`,
      syncAt: `+OK\r\n${error}`.length,
      expected: {
        events: [
          reply('+OK'),
          {
            type: 'psync-reply',
            raw: error,
            reply: { kind: 'error', message: error.slice(1, -2), retryLater: false },
          },
          keepalive('\n'),
          eofStart(),
          data(`rdb${MARK}`),
          end(3),
          stream(STREAM),
        ],
        phase: 'streaming',
        streamBytes: STREAM.length,
      },
    });
  });

  it('accepts a disk snapshot size up to 2^53 - 1', () => {
    const framer = new ReplicationFramer(SYNC);
    const [start] = framer.push(bytes('$9007199254740991\r\n'));
    assert.deepEqual(start?.type === 'snapshot-start' && start.snapshot, {
      format: 'disk',
      size: Number.MAX_SAFE_INTEGER,
    });
  });
});

describe('ReplicationFramer: malformed input', () => {
  const handshake = { handshakeReplies: 1, mode: 'psync' } as const;

  it('rejects a first byte that cannot start the expected line', () => {
    assertRejected(handshake, ':1\r\n');
    assertRejected(handshake, '\r\n');
    assertRejected(PSYNC, '*1\r\n$4\r\nPING\r\n');
    assertRejected(PSYNC, `${FULLRESYNC}+OK\r\n`);
    assertRejected(SYNC, 'REDIS0011');
  });

  it('rejects a snapshot length that is not a plain decimal number', () => {
    for (const length of ['12a', '-1', '', ' 12', '+3', '9007199254740992', '99999999999999999']) {
      assertRejected(SYNC, `$${length}\r\n`);
    }
  });

  it('rejects replids and $EOF: marks that are not 40 characters', () => {
    assertRejected(PSYNC, '+FULLRESYNC abc 0\r\n');
    assertRejected(PSYNC, `+FULLRESYNC ${REPLID}0 0\r\n`);
    assertRejected(PSYNC, '+CONTINUE abc\r\n');
    assertRejected(PSYNC, '+CONTINUE \r\n');
    assertRejected(SYNC, `$EOF:${MARK.slice(1)}\r\n`);
    assertRejected(SYNC, `$EOF:${MARK}x\r\n`);
  });

  it('rejects a malformed +FULLRESYNC offset or shape', () => {
    assertRejected(PSYNC, `+FULLRESYNC ${REPLID} x\r\n`);
    assertRejected(PSYNC, `+FULLRESYNC ${REPLID} -1\r\n`);
    assertRejected(PSYNC, `+FULLRESYNC ${REPLID}\r\n`);
    assertRejected(PSYNC, `+FULLRESYNC ${REPLID} 1 2\r\n`);
    assertRejected(PSYNC, '+FULLRESYNC\r\n');
  });

  it('rejects PSYNC replies it does not know', () => {
    assertRejected(PSYNC, '+OK\r\n');
    assertRejected(PSYNC, '+DUALCHANNELSYNC\r\n');
    assertRejected(PSYNC, '+CONTINUEX\r\n');
  });

  it('rejects reply lines longer than maxLineLength', () => {
    const options = { handshakeReplies: 1, mode: 'psync', maxLineLength: 16 } as const;
    assertFraming({
      options,
      input: `+${'a'.repeat(15)}\r\n`,
      expected: { events: [reply(`+${'a'.repeat(15)}`)] },
    });
    assertRejected(options, `+${'a'.repeat(16)}\r\n`);
    assertRejected(options, `+${'a'.repeat(16)}\n`);
    assertRejected(options, `+${'a'.repeat(17)}`);
  });

  it('rejects a reply line over 64 KB by default', () => {
    const options = { handshakeReplies: 1, mode: 'psync' } as const;
    assertRejected(options, `-${'e'.repeat(65536)}\r\n`, { stride: 4099 });
    assertRejected(options, `-${'e'.repeat(65537)}`, { stride: 4099 });
    assertFraming({
      options,
      input: `-${'e'.repeat(65535)}\r\n`,
      expected: { events: [reply(`-${'e'.repeat(65535)}`)] },
      chunking: { stride: 4099 },
    });
  });

  it('keeps failing after a protocol error', () => {
    const framer = new ReplicationFramer(PSYNC);
    assert.throws(() => framer.push(bytes('?')), { code: 'RBUDDY_ERR_PROTOCOL' });
    assert.throws(() => framer.push(bytes('+CONTINUE\r\n')), { code: 'RBUDDY_ERR_PROTOCOL' });
    assert.equal(framer.phase, 'failed');
  });
});

/** Deterministic filler bytes (xorshift32), so that a 200 KB payload costs no shrinking. */
function pseudoRandomBytes(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('ReplicationFramer: properties', () => {
  const markChar = fc.constantFrom(...'0123456789abcdefABCDEF!#%&()*+,-./:;<=>?@[]^_{|}~');
  const scenario = fc.record({
    format: fc.constantFrom('disk', 'eof'),
    mark: fc.string({ unit: markChar, minLength: 40, maxLength: 40 }),
    seed: fc.integer(),
    size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 200_000 })),
    /** Where to plant prefixes of the mark inside the payload, and how long they are. */
    decoys: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 39 })), { maxLength: 6 }),
    keepalives: fc.nat({ max: 3 }),
    streamSize: fc.integer({ min: 0, max: 2000 }),
    cuts: fc.array(fc.nat(), { maxLength: 40 }),
    /** A window cut byte by byte, to put boundaries inside the mark and the header. */
    dense: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 120 })),
  });

  it('gives the same events for any chunking of a random snapshot and stream', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const mark = bytes(s.mark);
        const rdb = pseudoRandomBytes(s.seed, s.size);
        for (const [at, length] of s.decoys) {
          if (rdb.length >= length) mark.copy(rdb, at % (rdb.length - length + 1), 0, length);
        }
        const payload = s.format === 'eof' ? Buffer.concat([rdb, mark]) : rdb;
        // The mark must first occur at the end of the payload, as it does in a real transfer.
        fc.pre(s.format === 'disk' || payload.indexOf(mark) === rdb.length);
        const header = bytes(s.format === 'eof' ? `$EOF:${s.mark}\r\n` : `$${rdb.length}\r\n`);
        const prelude = bytes(`${FULLRESYNC}${'\n'.repeat(s.keepalives)}`);
        const tail = pseudoRandomBytes(s.seed ^ 0x5bd1e995, s.streamSize);
        const input = Buffer.concat([prelude, header, payload, tail]);

        const [from, width] = s.dense;
        const start = from % (input.length + 1);
        const denseCuts = Array.from({ length: width }, (_, i) => start + i);
        const chunks = splitAt(input, [...s.cuts.map((c) => c % (input.length + 1)), ...denseCuts]);
        const outcome = run(PSYNC, chunks);

        const expected: Shown[] = [fullresync()];
        if (s.keepalives > 0) expected.push(keepalive('\n'.repeat(s.keepalives)));
        expected.push({
          type: 'snapshot-start',
          raw: header.toString('latin1'),
          snapshot:
            s.format === 'eof'
              ? { format: 'eof', mark: s.mark }
              : { format: 'disk', size: rdb.length },
        });
        if (payload.length > 0) expected.push(data(payload.toString('latin1')));
        expected.push(end(rdb.length));
        if (tail.length > 0) expected.push(stream(tail.toString('latin1')));
        assert.deepEqual(outcome.events, expected);
        assert.equal(outcome.snapshotTransferred, payload.length);
        assert.equal(outcome.streamBytes, tail.length);
        assert.equal(outcome.phase, 'streaming');
      }),
      { numRuns: 150 },
    );
  });
});
