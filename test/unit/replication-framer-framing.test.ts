// ReplicationFramer against what a master sends (Redis replication.c: syncWithMaster,
// slaveTryPartialResynchronization, readSyncBulkPayload), under every chunking: the handshake, the
// PSYNC replies, disk and diskless (EOF-marked) snapshots and the stream after them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplicationFramer } from '../../src/resp/replication-framer.js';
import {
  assertFraming,
  assertRejected,
  bytes,
  data,
  diskStart,
  end,
  eofStart,
  FULLRESYNC,
  fullresync,
  keepalive,
  MARK,
  PSYNC,
  REPLID,
  reply,
  STREAM,
  stream,
  SYNC,
} from '../helpers/replication-fixtures.js';

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
