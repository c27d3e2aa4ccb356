// Fuzz targets for the two framers of src/resp, shared by the property tests
// (test/unit/fuzz-framers.test.ts) and the coverage-guided runner (fuzz/coverage.ts). Each one
// frames an input under several chunkings and throws an InvariantViolation when:
//   * the framing depends on the chunking (whole, one byte per push, and the given cuts must
//     give the same frames or events, the same buffered bytes, and the same verdict); or
//   * the framer throws anything but its own ProtocolError (RBUDDY_ERR_PROTOCOL, src/errors.ts).
import { isDeepStrictEqual } from 'node:util';
import { ProtocolError } from '../src/errors.js';
import { CommandFramer } from '../src/resp/command-framer.js';
import type { CommandLimits } from '../src/resp/limits.js';
import {
  ReplicationFramer,
  type ReplicationFramerOptions,
  type UpstreamEvent,
} from '../src/resp/replication-framer.js';
import { mergeEvents, splitAt, splitEvery } from '../test/helpers/chunkings.js';

/** A broken invariant: what the fuzzers are looking for. */
export class InvariantViolation extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'InvariantViolation';
  }
}

/** Pushes `chunks` through `push`; a ProtocolError ends the input, anything else is a violation. */
function pushAll<T>(
  chunks: readonly Buffer[],
  push: (chunk: Buffer) => T[],
): { items: T[]; error: string | undefined; pushed: number } {
  const items: T[] = [];
  let pushed = 0;
  for (const chunk of chunks) {
    try {
      items.push(...push(chunk));
    } catch (error) {
      if (error instanceof ProtocolError) return { items, error: error.message, pushed };
      throw new InvariantViolation(
        `the framer threw something other than a ProtocolError: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    pushed += chunk.length;
  }
  return { items, error: undefined, pushed };
}

const describeChunks = (chunks: readonly Buffer[]): string =>
  `chunks of ${chunks.map((c) => c.length).join(',')}`;

interface CommandOutcome {
  frames: Array<{ args: string[]; size: number; inline: boolean }>;
  buffered: number | undefined;
  error: string | undefined;
}

function frameCommands(
  chunks: readonly Buffer[],
  limits: CommandLimits | undefined,
): CommandOutcome {
  const framer = new CommandFramer(limits);
  let sizes = 0;
  const { items, error, pushed } = pushAll(chunks, (chunk) => {
    const frames = framer.push(chunk);
    for (const frame of frames) sizes += frame.size;
    return frames;
  });
  // Size accounting: every byte pushed is in exactly one frame or still buffered.
  if (error === undefined && sizes + framer.buffered !== pushed) {
    throw new InvariantViolation(
      `${describeChunks(chunks)}: frames cover ${sizes} bytes and ${framer.buffered} are buffered, of ${pushed} pushed`,
    );
  }
  return {
    frames: items.map((f) => ({
      args: f.args.map((a) => a.toString('hex')),
      size: f.size,
      inline: f.inline,
    })),
    buffered: error === undefined ? framer.buffered : undefined,
    error,
  };
}

/**
 * Same frames, sizes and verdict under every chunking. Where the input is malformed, a push that
 * throws loses the frames completed earlier in its own chunk, so each chunking's frames must be
 * a prefix of what one byte per push gives (the most a caller can see) and the error the same.
 */
export function checkCommandFramer(
  input: Buffer,
  cuts: readonly number[],
  limits?: CommandLimits,
): void {
  const chunkings = [[input], splitEvery(input, 1), splitAt(input, cuts)];
  const [whole, ...others] = chunkings.map((chunks) => ({
    chunks,
    outcome: frameCommands(chunks, limits),
  }));
  const bytewise = others[0];
  if (whole === undefined || bytewise === undefined) return;
  for (const { chunks, outcome } of [whole, ...others]) {
    const same =
      outcome.error === bytewise.outcome.error &&
      outcome.buffered === bytewise.outcome.buffered &&
      (outcome.error === undefined
        ? isDeepStrictEqual(outcome.frames, bytewise.outcome.frames)
        : isDeepStrictEqual(
            outcome.frames,
            bytewise.outcome.frames.slice(0, outcome.frames.length),
          ));
    if (!same) {
      throw new InvariantViolation(
        `command framing depends on the chunking: ${describeChunks(chunks)} gave ` +
          `${JSON.stringify(outcome)}, one byte per push gave ${JSON.stringify(bytewise.outcome)}`,
      );
    }
  }
}

interface ReplicationOutcome {
  events: unknown[];
  /** Bytes the events carried, which must be exactly the bytes pushed before any error. */
  relayed: string;
  phase: string;
  counters: number[];
  error: string | undefined;
}

function show(event: UpstreamEvent): unknown {
  return { ...event, raw: event.raw.toString('hex') };
}

function frameReplication(
  chunks: readonly Buffer[],
  options: ReplicationFramerOptions,
): ReplicationOutcome {
  const framer = new ReplicationFramer(options);
  const { items, error, pushed } = pushAll(chunks, (chunk) => framer.push(chunk));
  const relayed = Buffer.concat(items.map((e) => e.raw));
  // The events carry the bytes pushed, in order, except a partial line still held back.
  const input = Buffer.concat(chunks).subarray(0, pushed);
  const held = pushed - relayed.length;
  if (
    !relayed.equals(input.subarray(0, relayed.length)) ||
    (error === undefined && held > framer.buffered)
  ) {
    throw new InvariantViolation(
      `${describeChunks(chunks)}: the events carried ${relayed.length} of the ${pushed} bytes pushed ` +
        `(${framer.buffered} buffered), or not those bytes`,
    );
  }
  return {
    events: mergeEvents(items).map(show),
    relayed: relayed.toString('hex'),
    phase: framer.phase,
    counters: [framer.snapshotTransferred, framer.streamBytes, framer.buffered],
    error,
  };
}

/**
 * Same events (adjacent keepalive, snapshot-data and stream events merged), phase, counters and
 * verdict under every chunking. After an error, the bytes each chunking relayed must be a prefix
 * of what one byte per push relayed, and the error the same.
 */
export function checkReplicationFramer(
  input: Buffer,
  cuts: readonly number[],
  options: ReplicationFramerOptions,
): void {
  const outcomes = [[input], splitEvery(input, 1), splitAt(input, cuts)].map((chunks) => ({
    chunks,
    outcome: frameReplication(chunks, options),
  }));
  const bytewise = outcomes[1]?.outcome;
  if (bytewise === undefined) return;
  for (const { chunks, outcome } of outcomes) {
    const same =
      outcome.error === undefined
        ? isDeepStrictEqual(outcome, bytewise)
        : outcome.error === bytewise.error && bytewise.relayed.startsWith(outcome.relayed);
    if (!same) {
      throw new InvariantViolation(
        `replication framing depends on the chunking: ${describeChunks(chunks)} gave ` +
          `${JSON.stringify(outcome)}, one byte per push gave ${JSON.stringify(bytewise)}`,
      );
    }
  }
}
