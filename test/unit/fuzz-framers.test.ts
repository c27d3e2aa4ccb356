// The framers of src/resp under generated, mostly malformed input (fuzz/framer-targets.ts): the
// framing is independent of the chunking (whole, one byte per push, random cuts) and nothing but
// a ProtocolError ever escapes. Inputs are built from the fragments the grammars are made of
// (length markers, edge numbers, line endings, quotes, marks), so that small inputs reach deep
// states; a few known inputs from fuzz/corpus/ run first.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { encodeCommand } from '../../src/resp/encode.js';
import type { CommandLimits } from '../../src/resp/limits.js';
import { CLIENT_LIMITS, UNAUTHENTICATED_LIMITS } from '../../src/resp/limits.js';
import type { ReplicationFramerOptions } from '../../src/resp/replication-framer.js';
import {
  InvariantViolation,
  checkCommandFramer,
  checkReplicationFramer,
} from '../../fuzz/framer-targets.js';
import { EDGE_NUMBERS } from '../../fuzz/mutate.js';
import { TINY_LIMITS, commandCase, replicationCase } from '../../fuzz/corpus-format.js';

const corpus = fileURLToPath(new URL('../../fuzz/corpus/', import.meta.url));
const seeds = (dir: string): Buffer[] =>
  readdirSync(join(corpus, dir))
    .sort()
    .map((name) => readFileSync(join(corpus, dir, name)));

const limits = fc.constantFrom<CommandLimits | undefined>(
  undefined,
  CLIENT_LIMITS,
  UNAUTHENTICATED_LIMITS,
  TINY_LIMITS,
);

const fragment = (extra: ReadonlyArray<string | Buffer>): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.constantFrom(...extra).map((piece) => Buffer.from(piece)),
    fc.constantFrom(...EDGE_NUMBERS).map((n) => Buffer.from(n, 'latin1')),
    fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes)),
  );
const input = (extra: ReadonlyArray<string | Buffer>): fc.Arbitrary<Buffer> =>
  fc.array(fragment(extra), { maxLength: 24 }).map((pieces) => Buffer.concat(pieces));
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 12 });

const COMMAND_PIECES = [
  '*',
  '$',
  '\r',
  '\n',
  '\r\n',
  ' ',
  '"',
  "'",
  '\\',
  '\\x4',
  '\\x41',
  '\0',
  'PING',
  encodeCommand(['AUTH', 'secret']),
  encodeCommand(['SUBSCRIBE', 'a', 'b']),
  encodeCommand([]),
  '*1\r\n$4\r\nPING\r\n',
  '*-1\r\n',
  '$3\r\nabc\r\n',
  'PING "a b" \'c\'\r\n',
];

const MARK = 'a'.repeat(40);
const REPLICATION_PIECES = [
  '\n',
  '\r\n',
  '+',
  '-',
  '$',
  ' ',
  '+OK\r\n',
  `+FULLRESYNC ${'8'.repeat(40)} 0\r\n`,
  '+FULLRESYNC ',
  '+CONTINUE\r\n',
  `+CONTINUE ${'9'.repeat(40)}\r\n`,
  '-ERR no\r\n',
  '-LOADING\r\n',
  '$EOF:',
  `$EOF:${MARK}\r\n`,
  MARK,
  MARK.slice(0, 39),
  '$0\r\n',
  '$5\r\n',
  '*1\r\n$4\r\nPING\r\n',
];
const replicationOptions: fc.Arbitrary<ReplicationFramerOptions> = fc.record(
  {
    handshakeReplies: fc.nat({ max: 2 }),
    mode: fc.constantFrom('psync' as const, 'sync' as const),
    maxLineLength: fc.constantFrom(16, 64, 65_536),
  },
  { requiredKeys: ['handshakeReplies', 'mode'] },
);

/** Runs a target; an InvariantViolation fails the property with its message. */
function holds(check: () => void): boolean {
  try {
    check();
    return true;
  } catch (error) {
    if (error instanceof InvariantViolation) assert.fail(error.message);
    throw error;
  }
}

describe('fuzzing the framers: chunking never matters, only ProtocolErrors escape', () => {
  it('CommandFramer: the corpus', () => {
    for (const seed of seeds('command')) {
      const { input, cuts: at, limits: chosen } = commandCase(seed);
      holds(() => checkCommandFramer(input, at, chosen));
    }
  });

  it('CommandFramer: generated requests', () => {
    fc.assert(
      fc.property(input(COMMAND_PIECES), cuts, limits, (bytes, at, chosen) =>
        holds(() => checkCommandFramer(bytes, at, chosen)),
      ),
      { numRuns: 1_500 },
    );
  });

  it('ReplicationFramer: the corpus', () => {
    for (const seed of seeds('replication')) {
      const { input: bytes, cuts: at, options } = replicationCase(seed);
      holds(() => checkReplicationFramer(bytes, at, options));
    }
  });

  it('ReplicationFramer: generated master replies, snapshots and streams', () => {
    fc.assert(
      fc.property(input(REPLICATION_PIECES), cuts, replicationOptions, (bytes, at, options) =>
        holds(() => checkReplicationFramer(bytes, at, options)),
      ),
      { numRuns: 1_500 },
    );
  });
});
