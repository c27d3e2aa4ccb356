// Figure 2: with the replica streaming, a burst of pipelined SETs on the master, then the time
// from the burst's last reply until the replica has processed the master's offset.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { masterOffset, replicaOffset, type Path } from './links.js';
import { elapsedMs } from './stats.js';

export interface CatchUpOptions {
  commands: number;
  /** Commands per pipeline. */
  batch: number;
  /** Pipelines in flight at once. */
  window: number;
  valueBytes: number;
}

export interface CatchUpRun {
  path: Path;
  /** From the burst's last reply to the replica at the master's offset. */
  lagMs: number;
  burstMs: number;
  /** Replication stream bytes the burst produced. */
  streamBytes: number;
}

/** Polls back to back for this long (the usual lag is well under a millisecond), then every
 * millisecond so as not to steal the replica's CPU if it really is behind. */
const BUSY_POLL_MS = 20;
const CATCH_UP_TIMEOUT_MS = 60_000;

/** One burst; the replica must be attached through `path` and caught up. */
export async function catchUp(
  master: Redis,
  replica: Redis,
  path: Path,
  options: CatchUpOptions,
): Promise<CatchUpRun> {
  const value = randomBytes(options.valueBytes);
  const offsetBefore = await masterOffset(master);
  const start = performance.now();
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < options.commands) {
      const first = next;
      const last = Math.min(options.commands, first + options.batch);
      next = last;
      const pipeline = master.pipeline();
      for (let i = first; i < last; i += 1) pipeline.set(`burst:${i}`, value);
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error !== null);
      if (results === null || failed !== undefined) {
        throw new Error(`burst pipeline failed: ${String(failed?.[0] ?? 'aborted')}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.window }, sender));
  const burstEnd = performance.now();
  const target = await masterOffset(master);
  for (let offset = await replicaOffset(replica); offset < target;) {
    const waited = elapsedMs(burstEnd);
    if (waited > CATCH_UP_TIMEOUT_MS) {
      throw new Error(`the replica is still at ${offset} of ${target} after ${waited} ms`);
    }
    if (waited > BUSY_POLL_MS) await new Promise((resolve) => setTimeout(resolve, 1));
    offset = await replicaOffset(replica);
  }
  return {
    path,
    lagMs: elapsedMs(burstEnd),
    burstMs: burstEnd - start,
    streamBytes: target - offsetBefore,
  };
}
