// How a fuzz input's bytes become a framer case, as libFuzzer-style targets read theirs: the
// first byte picks the options, the second how many cut points follow (two bytes each), and the
// rest is the input. The corpus under fuzz/corpus/ is in this format, so that the coverage-guided
// runner (fuzz/coverage.ts) can mutate options and cuts along with the input.
import type { CommandLimits } from '../src/resp/limits.js';
import { CLIENT_LIMITS, REDIS_LIMITS, UNAUTHENTICATED_LIMITS } from '../src/resp/limits.js';
import type { ReplicationFramerOptions } from '../src/resp/replication-framer.js';

/** Tiny limits, so that inputs of a few bytes cross them. */
export const TINY_LIMITS: CommandLimits = { maxBulkLen: 8, maxMultibulkLen: 3, maxInlineSize: 16 };
const LIMITS: readonly CommandLimits[] = [
  REDIS_LIMITS,
  CLIENT_LIMITS,
  UNAUTHENTICATED_LIMITS,
  TINY_LIMITS,
];
const MAX_LINE_LENGTHS = [65_536, 64, 16, 65_536] as const;
const MAX_CUTS = 16;

interface Parts {
  option: number;
  cuts: number[];
  input: Buffer;
}

function parts(data: Buffer): Parts {
  const option = data[0] ?? 0;
  const count = (data[1] ?? 0) % (MAX_CUTS + 1);
  const cuts: number[] = [];
  let pos = 2;
  for (let i = 0; i < count && pos + 1 < data.length; i += 1, pos += 2)
    cuts.push(data.readUInt16BE(pos));
  return { option, cuts, input: data.subarray(Math.min(pos, data.length)) };
}

function encode(option: number, cuts: readonly number[], input: Buffer): Buffer {
  const header = Buffer.alloc(2 + 2 * cuts.length);
  header[0] = option;
  header[1] = cuts.length;
  cuts.forEach((cut, i) => header.writeUInt16BE(cut & 0xffff, 2 + 2 * i));
  return Buffer.concat([header, input]);
}

export interface CommandCase {
  input: Buffer;
  cuts: number[];
  limits: CommandLimits;
}

export function commandCase(data: Buffer): CommandCase {
  const { option, cuts, input } = parts(data);
  return { input, cuts, limits: LIMITS[option % LIMITS.length] ?? REDIS_LIMITS };
}

/** `limits`: 0 Redis's, 1 rbuddy's for clients, 2 before AUTH, 3 tiny. */
export function encodeCommandCase(limits: number, cuts: readonly number[], input: Buffer): Buffer {
  return encode(limits, cuts, input);
}

export interface ReplicationCase {
  input: Buffer;
  cuts: number[];
  options: ReplicationFramerOptions;
}

/** Option byte: bits 0–1 handshake replies (0–2), bit 2 SYNC instead of PSYNC, bits 3–4 max line. */
export function replicationCase(data: Buffer): ReplicationCase {
  const { option, cuts, input } = parts(data);
  return {
    input,
    cuts,
    options: {
      handshakeReplies: (option & 3) % 3,
      mode: (option & 4) === 0 ? 'psync' : 'sync',
      maxLineLength: MAX_LINE_LENGTHS[(option >> 3) & 3] ?? 65_536,
    },
  };
}

export function encodeReplicationCase(
  option: number,
  cuts: readonly number[],
  input: Buffer,
): Buffer {
  return encode(option, cuts, input);
}
