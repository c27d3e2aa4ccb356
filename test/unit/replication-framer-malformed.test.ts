// ReplicationFramer against what a master sends (Redis replication.c: syncWithMaster,
// slaveTryPartialResynchronization, readSyncBulkPayload), under every chunking: malformed input
// fails the framer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplicationFramer } from '../../src/resp/replication-framer.js';
import {
  assertFraming,
  assertRejected,
  bytes,
  FULLRESYNC,
  MARK,
  PSYNC,
  REPLID,
  reply,
  SYNC,
} from '../helpers/replication-fixtures.js';

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
