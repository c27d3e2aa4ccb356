// The measured cycle of the failover figures, the same for every variant: a reader reads a known
// key ~100 times a second; the master, which persists with AOF, is killed with SIGKILL and
// restarted at once from its AOF; the variant's own end condition is awaited, then more reads.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { RedisServer } from '../harness/redis-server.js';
import { info, masterStats, type MasterStats } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';
import { startTimedReader, type ReadSample } from './failover-reader.js';
import { watchNode, type NodeSnapshot } from './failover-watch.js';
import { keysPerDb } from './node-info.js';
import { settleDisk } from './settle.js';

export const READER = { periodMs: 10, timeoutMs: 1_000, key: 'bench:failover:key' } as const;
/** Reads that must succeed before the kill, and after the cycle has completed. */
const BASELINE_READS = 100;
const TAIL_READS = 100;
export const READ_VALUE = 'the-value-applications-expect';
export const SYNC_TIMEOUT_MS = 240_000;

export interface MasterCycle {
  /** Epoch ms: SIGKILL sent, restart begun, restarted master answering PING (RDB loaded), the
   * variant's end condition met, last read. */
  killAt: number;
  restartAt: number;
  backAt: number;
  completedAt: number;
  endAt: number;
  replidBefore: string;
  replidAfter: string;
  /** The restarted master's secondary ID (all zeros: no history carried over). */
  replid2After: string;
  /** Keys per db, before the kill and after the restart (`db0=… db1=…`). */
  keysBefore: string;
  keysAfter: string;
  /** The restarted master's counters at the end: resyncs it served. */
  syncs: MasterStats;
}

/** The master the cycle kills and restarts, and a client of it. */
export interface CycleMaster {
  master: RedisServer;
  masterClient: Redis;
}

export interface CycleOptions {
  target: () => string | Promise<string>;
  /** Clients whose node's INFO is polled throughout. */
  watch: Redis[];
  what: string;
  /** Whether the variant has recovered (polled every 50 ms after the master is back). */
  completed: (killAt: number) => Promise<boolean>;
}

export interface CycleResult {
  cycle: MasterCycle;
  samples: ReadSample[];
  changes: NodeSnapshot[][];
}

/**
 * The measured cycle: the AOF checked complete, reads start; kill -9 the master, restart it at once
 * from its AOF; wait until the variant has recovered and reads have gone on for a while.
 */
export async function masterCycle(ctx: CycleMaster, options: CycleOptions): Promise<CycleResult> {
  const { master, masterClient } = ctx;
  await assertPersisted(masterClient);
  await settleDisk();
  const replidBefore = (await info(masterClient, 'replication'))['master_replid'] ?? '?';
  const keysBefore = keysPerDb(await info(masterClient, 'keyspace'));

  const watches = options.watch.map(watchNode);
  const reader = startTimedReader({
    target: options.target,
    key: READER.key,
    expected: READ_VALUE,
    periodMs: READER.periodMs,
    timeoutMs: READER.timeoutMs,
  });
  let samples: ReadSample[];
  let changes: NodeSnapshot[][];
  let times: Pick<MasterCycle, 'killAt' | 'restartAt' | 'backAt' | 'completedAt'> | undefined;
  try {
    await waitFor(() => reader.ok >= BASELINE_READS, {
      what: 'reads before the kill',
      timeoutMs: 30_000,
    });
    if (reader.failed > 0) throw new Error(`reads failed before the kill: ${reader.failed}`);
    const killAt = Date.now();
    await master.kill9();
    const restartAt = Date.now();
    await master.restart();
    const backAt = Date.now();
    await waitFor(() => options.completed(killAt), {
      what: options.what,
      timeoutMs: SYNC_TIMEOUT_MS,
      intervalMs: 50,
    });
    const completedAt = Date.now();
    const okAtCompletion = reader.ok;
    await waitFor(() => reader.ok >= okAtCompletion + TAIL_READS, {
      what: 'reads after the recovery',
      timeoutMs: 60_000,
    });
    times = { killAt, restartAt, backAt, completedAt };
  } finally {
    samples = await reader.stop();
    changes = await Promise.all(watches.map((watch) => watch.stop()));
    for (const client of options.watch) client.disconnect();
  }
  if (times === undefined) throw new Error('the cycle did not complete');
  const endAt = samples.at(-1)?.end ?? Date.now();
  const replication = await info(masterClient, 'replication');
  return {
    cycle: {
      ...times,
      endAt,
      replidBefore,
      replidAfter: replication['master_replid'] ?? '?',
      replid2After: replication['master_replid2'] ?? '?',
      keysBefore,
      keysAfter: keysPerDb(await info(masterClient, 'keyspace')),
      syncs: await masterStats(masterClient),
    },
    samples,
    changes,
  };
}

/** BGREWRITEAOF, and wait until it is done: the AOF is then a base RDB and an empty increment. */
export async function rewriteAof(client: Redis): Promise<void> {
  await client.call('BGREWRITEAOF');
  await waitFor(
    async () => {
      const p = await info(client, 'persistence');
      if (p['aof_last_bgrewrite_status'] !== 'ok') throw new Error('BGREWRITEAOF failed');
      return p['aof_rewrite_in_progress'] === '0' && p['aof_rewrite_scheduled'] === '0';
    },
    { what: 'BGREWRITEAOF to finish', timeoutMs: 180_000, intervalMs: 100 },
  );
}

/**
 * Throws unless the master's AOF holds everything: AOF on and writing fine, no rewrite or fsync
 * pending. The master takes no writes after populating (and the rewrite that followed), so what
 * it restarts from is the whole dataset; the keys per db are compared after each restart.
 */
async function assertPersisted(client: Redis): Promise<void> {
  const p = await info(client, 'persistence');
  const problems = [
    p['aof_enabled'] !== '1' && 'AOF off',
    p['aof_last_write_status'] !== 'ok' && 'AOF write failed',
    p['aof_rewrite_in_progress'] !== '0' && 'AOF rewrite in progress',
    p['aof_pending_bio_fsync'] !== '0' && 'AOF fsync pending',
  ].filter((problem): problem is string => typeof problem === 'string');
  if (problems.length > 0)
    throw new Error(`the master's AOF is not complete: ${problems.join(', ')}`);
}

/** Size of the AOF's base file (appendonlydir/*.base.rdb). */
export function aofBaseBytes(master: RedisServer): number {
  const dir = join(master.dir, 'appendonlydir');
  const base = readdirSync(dir).find((name) => name.endsWith('.base.rdb'));
  return base === undefined ? NaN : statSync(join(dir, base)).size;
}
