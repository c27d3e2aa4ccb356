// What the ReplicationFramer tests feed and expect: a master's bytes (FULLRESYNC, snapshot
// prologues, a command stream), the framer's events in a readable form, and the assertions that run
// one input under every chunking (test/unit/replication-framer-*.test.ts).
import assert from 'node:assert/strict';
import { RbuddyError } from '../../src/errors.js';
import { ReplicationFramer } from '../../src/resp/replication-framer.js';
import type {
  ReplicationFramerOptions,
  ReplicationPhase,
  UpstreamEvent,
} from '../../src/resp/replication-framer.js';
import { chunkings, mergeEvents } from './chunkings.js';
import type { ChunkingOptions } from './chunkings.js';

export const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
export const REPLID = '8de1f4e0c2f1d0b63a7c0b5f1b6a9f3a2e4d5c6b';
export const MARK = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const FULLRESYNC = `+FULLRESYNC ${REPLID} 1234\r\n`;
export const STREAM = '*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n';

/** An event with `raw` as a latin1 string, for readable comparisons. */
export type Shown = {
  [T in UpstreamEvent['type']]: Omit<Extract<UpstreamEvent, { type: T }>, 'raw'> & { raw: string };
}[UpstreamEvent['type']];
export const show = (event: UpstreamEvent): Shown => ({
  ...event,
  raw: event.raw.toString('latin1'),
});

// Expected events, built from the bytes they stand for.
export const keepalive = (raw: string): Shown => ({ type: 'keepalive', raw });
export const reply = (line: string): Shown => ({
  type: 'handshake-reply',
  raw: `${line}\r\n`,
  ok: line.startsWith('+'),
  line,
});
export const fullresync = (raw = FULLRESYNC): Shown => ({
  type: 'psync-reply',
  raw,
  reply: { kind: 'fullresync', replid: REPLID, offset: 1234 },
});
export const diskStart = (size: number): Shown => ({
  type: 'snapshot-start',
  raw: `$${size}\r\n`,
  snapshot: { format: 'disk', size },
});
export const eofStart = (mark = MARK): Shown => ({
  type: 'snapshot-start',
  raw: `$EOF:${mark}\r\n`,
  snapshot: { format: 'eof', mark },
});
export const data = (raw: string): Shown => ({ type: 'snapshot-data', raw });
export const end = (size: number): Shown => ({ type: 'snapshot-end', raw: '', size });
export const stream = (raw: string): Shown => ({ type: 'stream', raw });

export interface Outcome {
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
export function run(
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
export function cutAt(chunks: readonly Buffer[], offset: number): Buffer[] {
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

export interface Fixture {
  options: ReplicationFramerOptions;
  input: string | Buffer;
  expected: Partial<Outcome> & { events: Shown[] };
  /** The byte offset where the replica sends SYNC after a PSYNC error. */
  syncAt?: number;
  chunking?: ChunkingOptions;
}

/** The fixture gives the same outcome whole, byte by byte and split at every boundary. */
export function assertFraming({ options, input, expected, syncAt, chunking }: Fixture): void {
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
export function assertRejected(
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

export const PSYNC = { handshakeReplies: 0, mode: 'psync' } as const;
export const SYNC = { handshakeReplies: 0, mode: 'sync' } as const;
