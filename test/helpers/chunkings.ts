// Every protocol fixture is tested three ways: whole, byte by byte, and split at every boundary
// (ioredis test/unit/resp/decoder.ts does the same). These helpers yield those chunkings and
// put framer output into a form that does not depend on them.
import type { UpstreamEvent } from '../../src/resp/replication-framer.js';

export interface Chunking {
  /** For assertion messages: "whole", "byte by byte" or "split at 17". */
  name: string;
  chunks: Buffer[];
}

export interface ChunkingOptions {
  /**
   * Split only at every `stride`-th boundary (and the first and last), for fixtures of tens of KB where
   * every boundary would make the test quadratic. Default 1: every boundary.
   */
  stride?: number;
}

/** Whole, byte by byte, then for each split point i: [0..i) and [i..n). */
export function* chunkings(input: Buffer, options: ChunkingOptions = {}): Generator<Chunking> {
  const { stride = 1 } = options;
  yield { name: 'whole', chunks: [input] };
  if (input.length > 1) yield { name: 'byte by byte', chunks: splitEvery(input, 1) };
  for (let i = 1; i < input.length; i++) {
    if (i !== 1 && i % stride !== 0 && i !== input.length - 1) continue;
    yield { name: `split at ${i}`, chunks: [input.subarray(0, i), input.subarray(i)] };
  }
}

/** Cuts `input` into pieces of `size` bytes (the last one may be shorter). */
export function splitEvery(input: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
  return chunks;
}

/**
 * Cuts `input` at the given offsets (any order, out-of-range and repeated offsets ignored), for
 * property tests that draw the cut points at random.
 */
export function splitAt(input: Buffer, offsets: Iterable<number>): Buffer[] {
  const cuts = [...new Set(offsets)].filter((o) => o > 0 && o < input.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    chunks.push(input.subarray(start, cut));
    start = cut;
  }
  return chunks.filter((c) => c.length > 0);
}

type Mergeable = 'keepalive' | 'snapshot-data' | 'stream';
const MERGEABLE: ReadonlySet<UpstreamEvent['type']> = new Set<Mergeable>([
  'keepalive',
  'snapshot-data',
  'stream',
]);

/**
 * Joins adjacent keepalive, snapshot-data and stream events (whose boundaries follow the
 * chunking) into one event each, with their raw bytes concatenated.
 */
export function mergeEvents(events: readonly UpstreamEvent[]): UpstreamEvent[] {
  const merged: UpstreamEvent[] = [];
  // Each run is concatenated once, so byte-by-byte output of a large fixture stays linear.
  let run: UpstreamEvent[] = [];
  const flush = (): void => {
    const first = run[0];
    if (first === undefined) return;
    merged.push(run.length === 1 ? first : { ...first, raw: Buffer.concat(run.map((e) => e.raw)) });
    run = [];
  };
  for (const event of events) {
    if (run[0] !== undefined && (run[0].type !== event.type || !MERGEABLE.has(event.type))) {
      flush();
    }
    run.push(event);
  }
  flush();
  return merged;
}
