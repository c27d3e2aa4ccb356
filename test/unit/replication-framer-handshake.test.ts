// ReplicationFramer against what a master sends (Redis replication.c: syncWithMaster,
// slaveTryPartialResynchronization, readSyncBulkPayload), under every chunking: the handshake and
// the PSYNC replies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplicationFramer } from '../../src/resp/replication-framer.js';
import {
  bytes,
  REPLID,
  FULLRESYNC,
  STREAM,
  keepalive,
  reply,
  fullresync,
  data,
  end,
  stream,
  assertFraming,
  assertRejected,
  PSYNC,
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
