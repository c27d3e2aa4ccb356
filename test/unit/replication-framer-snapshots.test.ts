// ReplicationFramer against what a master sends (Redis replication.c: syncWithMaster,
// slaveTryPartialResynchronization, readSyncBulkPayload), under every chunking: disk and diskless
// (EOF-marked) snapshots.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplicationFramer } from '../../src/resp/replication-framer.js';
import {
  bytes,
  MARK,
  FULLRESYNC,
  STREAM,
  keepalive,
  reply,
  fullresync,
  diskStart,
  eofStart,
  data,
  end,
  stream,
  assertFraming,
  assertRejected,
  PSYNC,
  SYNC,
} from '../helpers/replication-fixtures.js';

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
