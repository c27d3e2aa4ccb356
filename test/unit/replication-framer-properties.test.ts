// ReplicationFramer against what a master sends (Redis replication.c: syncWithMaster,
// slaveTryPartialResynchronization, readSyncBulkPayload), under every chunking: properties over
// random snapshots and streams.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { splitAt } from '../helpers/chunkings.js';
import {
  bytes,
  data,
  end,
  FULLRESYNC,
  fullresync,
  keepalive,
  PSYNC,
  run,
  Shown,
  stream,
} from '../helpers/replication-fixtures.js';

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
