// The failover figures: what a master loss followed by a full resync costs the replica
// applications read, side by side, on one master and one dataset:
//   (a) a plain replica (REPLICAOF the master, default `repl-diskless-load disabled`),
//   (b) a plain replica with `repl-diskless-load swapdb`,
//   (c) rbuddy's active, with a real standby; the reader follows GET /active.
// Each variant goes through the same cycle: a reader reads a known key ~100 times a second; the
// master, which persists with AOF, is killed with SIGKILL and restarted at once. It comes back
// with the same data from its AOF but with a NEW replication history: Redis takes a history
// back only from an RDB (7.0 even lets a master restarted from its RDB accept partial resyncs,
// with the old ID as its secondary one), never from an AOF. So every replica must full-resync
// the whole dataset: the change of history that rbuddy exists for (docs/design.md, "The gate").
// The bench checks that it did (new master_replid, no master_replid2, sync_full 1 and
// sync_partial_ok 0 on the restarted master, the same keys per db).
import { rmSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../harness/redis-server.js';
import { info, masterStats, populate } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';
import { cycleAnomalies, rbuddyAnomalies, readAnomalies } from './failover-anomalies.js';
import {
  aofBaseBytes,
  masterCycle,
  READ_VALUE,
  READER,
  rewriteAof,
  SYNC_TIMEOUT_MS,
  type MasterCycle,
} from './failover-cycle.js';
import { followActive, summarizeReads, type ReadSummary } from './failover-reader.js';
import { startRbuddyCli, watchSyncAcks, type RbuddyUnderTest } from './failover-rbuddy.js';
import { phasesOf, type Phases } from './failover-watch.js';
import { notCaughtUp, pointAt, type Endpoint } from './links.js';
import { infoClientOptions, sumKeys } from './node-info.js';
import type { ProxyOptions } from './proxy.js';
import { syncLog } from './replica-sync-log.js';

export interface FailoverSettings {
  megabytes: number;
  proxy: ProxyOptions;
  /** The compiled cli.js, for the `dist` runtime. */
  cli: string | undefined;
}

export type VariantId = 'plain' | 'swapdb' | 'rbuddy';

export const VARIANTS: readonly VariantId[] = ['plain', 'swapdb', 'rbuddy'];

export const VARIANT_LABELS: Record<VariantId, string> = {
  plain: '(a) plain replica (repl-diskless-load disabled)',
  swapdb: '(b) plain replica, repl-diskless-load swapdb',
  rbuddy: "(c) rbuddy's active (reader follows GET /active)",
};

/** rbuddy's settings for the run: fast detection, so that the cycle is mostly the resync. */
export const RBUDDY_TIMING = {
  graceMs: 1_000,
  drainMs: 1_000,
  probeIntervalMs: 250,
  probeTimeoutMs: 1_000,
} as const;

/** What the PSYNC gate logs when it keeps a +FULLRESYNC from the active (src/standby/engine.ts). */
const GATE_REFUSAL = 'the master demanded a full resync of the active replica';

export interface RbuddyFigures {
  /** Event times, ms after the kill. */
  events: Array<{ type: string; ms: number }>;
  epochBefore: number | null;
  epochAfter: number | null;
  /** kill → master.down, kill → active.promoted (ms). */
  masterDownMs: number | null;
  promotedMs: number | null;
  /** Restarted master answering PING → failover.completed (the switch announced), and from
   * the restart command. */
  backToCompletedMs: number | null;
  restartToCompletedMs: number | null;
  /** Master back → the standby's INFO shows a sync in progress, and shows it synced. */
  backToStandbySyncStartMs: number | null;
  backToStandbySyncedMs: number | null;
  /** The switch's own overhead: standby synced (its INFO, polled every 20 ms) → failover.completed
   * and → standby.ready minus the drain; and the engine's standby.synced → failover.completed. */
  syncedToCompletedMs: number | null;
  syncedToReadyMinusDrainMs: number | null;
  syncedEventToCompletedMs: number | null;
  /** The switch overhead taken apart: the proxy finished relaying the snapshot → the standby's
   * INFO shows it synced (its load) → the proxy sees its first REPLCONF ACK → failover.completed. */
  snapshotRelayedToSyncedMs: number | null;
  syncedToFirstAckMs: number | null;
  firstAckToCompletedMs: number | null;
  /** +FULLRESYNC answers to the active's PSYNC that the gate refused to relay. */
  gateRefusals: number;
  /** The new active's INFO story from the switch on. */
  standbyStory: string;
  timeline: string;
}

export interface VariantRun {
  id: VariantId;
  /** The replica's first full sync (not part of the figure), seconds. */
  initialSyncS: number;
  cycle: MasterCycle;
  reads: ReadSummary;
  /** Per INFO: the node applications read was loading, empty or not answering (ms). */
  withoutDatasetMs: number;
  /** That node's INFO phases, from the kill on. */
  served: Phases;
  /** The resyncing replica's own log of the sync ((c): the standby's), times after the kill. */
  syncLog: string;
  rbuddy: RbuddyFigures | undefined;
  /** Anything that makes the run not what it claims to be. */
  anomalies: string[];
}

export interface FailoverMeasurements {
  settings: FailoverSettings;
  redisVersion: string;
  /** `aofBaseBytes`: the AOF's base file (an RDB preamble), what the master restarts from. */
  dataset: { keys: number; usedMemory: string; aofBaseBytes: number; rewriteMs: number };
  runs: VariantRun[];
}

interface Context {
  settings: FailoverSettings;
  master: RedisServer;
  masterClient: Redis;
  progress: (message: string) => void;
}

export async function measureFailover(
  settings: FailoverSettings,
  progress: (message: string) => void,
): Promise<FailoverMeasurements> {
  progress('failover: starting the master');
  const master = await startRedis({
    name: 'failover-master',
    // As the relay figures' master: no compression (the snapshot is as large as the dataset),
    // disk-backed snapshots, no delay before a transfer. Persistence: AOF (everysec, RDB
    // preamble), rewritten once after populating rather than over and over while it grows.
    args: {
      rdbcompression: 'no',
      'repl-diskless-sync': 'no',
      'repl-diskless-sync-delay': 0,
      appendonly: 'yes',
      'auto-aof-rewrite-percentage': 0,
    },
  });
  const masterClient = master.client();
  const ctx: Context = { settings, master, masterClient, progress };
  const redisVersion = (await info(masterClient, 'server'))['redis_version'] ?? 'unknown';
  progress(`failover: populating the master with ${settings.megabytes} MiB of random values`);
  await populate(masterClient, { megabytes: settings.megabytes });
  await masterClient.set(READER.key, READ_VALUE);
  const memory = await info(masterClient, 'memory');
  const keys = sumKeys(await info(masterClient, 'keyspace'));
  progress(`failover: dataset ${keys} keys, used_memory ${memory['used_memory_human'] ?? '?'}`);
  progress('failover: BGREWRITEAOF (the AOF the master restarts from: an RDB preamble)');
  const rewriteStart = performance.now();
  await rewriteAof(masterClient);
  const rewriteMs = performance.now() - rewriteStart;

  const runs: VariantRun[] = [];
  for (const id of VARIANTS) {
    const run = id === 'rbuddy' ? await rbuddyRun(ctx) : await plainRun(ctx, id);
    progress(
      `failover ${id}: ${run.reads.failed} failed reads of ${run.reads.reads}, failing ` +
        `${(run.reads.failingMs / 1000).toFixed(2)} s` +
        (run.anomalies.length > 0 ? `; anomalies: ${run.anomalies.join('; ')}` : ''),
    );
    runs.push(run);
  }
  return {
    settings,
    redisVersion,
    dataset: {
      keys,
      usedMemory: memory['used_memory_human'] ?? '?',
      aofBaseBytes: aofBaseBytes(master),
      rewriteMs,
    },
    runs,
  };
}

/** (a) and (b): a replica of the master itself, read directly. */
async function plainRun(ctx: Context, id: 'plain' | 'swapdb'): Promise<VariantRun> {
  const { master, masterClient } = ctx;
  const replica = await startRedis({
    name: `failover-${id}`,
    args: id === 'swapdb' ? { 'repl-diskless-load': 'swapdb' } : {},
  });
  try {
    const client = replica.client(infoClientOptions(5_000));
    const upstream: Endpoint = { host: master.host, port: master.port };
    ctx.progress(`failover ${id}: initial full sync of the replica`);
    const start = performance.now();
    await pointAt(client, upstream);
    await waitFor(async () => (await notCaughtUp(masterClient, client, upstream)).length === 0, {
      what: `the ${id} replica's initial sync`,
      timeoutMs: SYNC_TIMEOUT_MS,
      intervalMs: 50,
    });
    const initialSyncS = (performance.now() - start) / 1000;

    ctx.progress(`failover ${id}: kill -9 the master, restart it (it reloads its AOF)`);
    const result = await masterCycle(ctx, {
      target: () => `redis://${replica.address}/`,
      watch: [replica.client(infoClientOptions(1_000))],
      what: `the ${id} replica to resync`,
      completed: async () => {
        const stats = await masterStats(masterClient);
        if (stats.syncFull + stats.syncPartialOk === 0) return false;
        return (await notCaughtUp(masterClient, client, upstream)).length === 0;
      },
    });
    const { cycle, samples } = result;
    const changes = result.changes[0] ?? [];
    const served = phasesOf(changes, cycle.killAt, cycle.endAt);
    const reads = summarizeReads(samples);
    return {
      id,
      initialSyncS,
      cycle,
      reads,
      withoutDatasetMs: served.withoutDatasetMs,
      served,
      syncLog: syncLog(replica, cycle.killAt),
      rbuddy: undefined,
      anomalies: [...cycleAnomalies(cycle, 1), ...readAnomalies(reads)],
    };
  } finally {
    await replica.stop();
    rmSync(replica.dir, { recursive: true, force: true });
  }
}

/** (c): rbuddy with an active and a standby; the reader asks GET /active before every read. */
async function rbuddyRun(ctx: Context): Promise<VariantRun> {
  const { master, masterClient, settings } = ctx;
  const [active, standby] = await Promise.all([
    startRedis({ name: 'failover-active' }),
    startRedis({ name: 'failover-standby' }),
  ]);
  let rbuddy: RbuddyUnderTest | undefined;
  try {
    ctx.progress('failover rbuddy: starting rbuddy; it attaches the active (initial full sync)');
    const start = performance.now();
    rbuddy = await startRbuddyCli(settings.proxy, settings.cli, [
      '--master',
      master.address,
      '--active',
      active.address,
      '--standby',
      standby.address,
      '--grace-ms',
      String(RBUDDY_TIMING.graceMs),
      '--drain-ms',
      String(RBUDDY_TIMING.drainMs),
      '--probe-interval-ms',
      String(RBUDDY_TIMING.probeIntervalMs),
      '--probe-timeout-ms',
      String(RBUDDY_TIMING.probeTimeoutMs),
    ]);
    const proxy = rbuddy;
    const activeClient = active.client(infoClientOptions(5_000));
    await waitFor(
      async () =>
        (await proxy.status()).state === 'healthy' &&
        (await notCaughtUp(masterClient, activeClient, proxy.resp)).length === 0,
      {
        what: 'rbuddy healthy with its active synced through it',
        timeoutMs: SYNC_TIMEOUT_MS,
        intervalMs: 100,
      },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nrbuddy log:\n${proxy.logTail()}`, { cause: error });
    });
    const initialSyncS = (performance.now() - start) / 1000;
    const epochBefore = (await proxy.status()).epoch;

    ctx.progress('failover rbuddy: kill -9 the master, restart it (it reloads its AOF)');
    const acks = watchSyncAcks(proxy, standby.address);
    const result = await masterCycle(ctx, {
      target: followActive(proxy.httpUrl, READER.timeoutMs),
      watch: [active.client(infoClientOptions(1_000)), standby.client(infoClientOptions(1_000))],
      what: 'rbuddy to fail over, resync the standby and switch (standby.ready)',
      completed: async (killAt) => {
        const status = await proxy.status();
        if (status.state !== 'healthy') return false;
        if (proxy.events().some((e) => e.type === 'standby.ready' && e.at >= killAt)) return true;
        // Not the scenario (the master accepted a partial resync: no failover will come); the
        // anomaly is reported rather than waited for.
        return status.failover === null && (await masterStats(masterClient)).syncPartialOk > 0;
      },
    }).catch(async (error: unknown) => {
      await acks.stop();
      throw new Error(`${String(error)}\nrbuddy log:\n${proxy.logTail()}`, { cause: error });
    });
    const { cycle, samples } = result;
    const [activeChanges = [], standbyChanges = []] = result.changes;
    const ackTimes = await acks.stop();
    const status = await proxy.status();
    const events = proxy.events().filter((e) => e.at >= cycle.killAt);
    const at = (type: string): number | null => events.find((e) => e.type === type)?.at ?? null;
    const completedAt = at('failover.completed');
    const switchAt = completedAt ?? cycle.completedAt;
    const activePhases = phasesOf(activeChanges, cycle.killAt, switchAt);
    const standbyBefore = phasesOf(standbyChanges, cycle.killAt, cycle.endAt);
    const standbyAfter = phasesOf(standbyChanges, switchAt, cycle.endAt);
    const syncedAt = standbyBefore.syncedMs === null ? null : cycle.killAt + standbyBefore.syncedMs;
    const syncStartAt =
      standbyBefore.syncStartMs === null ? null : cycle.killAt + standbyBefore.syncStartMs;
    const diff = (a: number | null, b: number | null): number | null =>
      a === null || b === null ? null : a - b;
    const ready = at('standby.ready');
    const figures: RbuddyFigures = {
      events: events.map((e) => ({ type: e.type, ms: e.at - cycle.killAt })),
      epochBefore,
      epochAfter: status.epoch,
      masterDownMs: diff(at('master.down'), cycle.killAt),
      promotedMs: diff(at('active.promoted'), cycle.killAt),
      backToCompletedMs: diff(completedAt, cycle.backAt),
      restartToCompletedMs: diff(completedAt, cycle.restartAt),
      backToStandbySyncStartMs: diff(syncStartAt, cycle.backAt),
      backToStandbySyncedMs: diff(syncedAt, cycle.backAt),
      syncedToCompletedMs: diff(completedAt, syncedAt),
      syncedToReadyMinusDrainMs: ((d) => (d === null ? null : d - RBUDDY_TIMING.drainMs))(
        diff(ready, syncedAt),
      ),
      syncedEventToCompletedMs: diff(completedAt, at('standby.synced')),
      snapshotRelayedToSyncedMs: diff(syncedAt, ackTimes.snapshotRelayedAt),
      syncedToFirstAckMs: diff(ackTimes.firstAckAt, syncedAt),
      firstAckToCompletedMs: diff(completedAt, ackTimes.firstAckAt),
      gateRefusals: proxy.logged(GATE_REFUSAL).filter((t) => t >= cycle.killAt).length,
      standbyStory: standbyBefore.story,
      timeline: (status.lastFailover?.timeline ?? [])
        .map(
          (entry) =>
            `${entry.step} +${((Date.parse(entry.at) - cycle.killAt) / 1000).toFixed(2)} s`,
        )
        .join(', '),
    };
    const reads = summarizeReads(samples);
    // The master also counts a full sync when the active's own PSYNC reached it and got
    // +FULLRESYNC, which the gate refused to relay (docs/design.md, "The gate"; rbuddy logs each
    // refusal); the active's INFO shows whether a sync ever reached the active (I1).
    const gateRefusals = proxy.logged(GATE_REFUSAL).filter((t) => t >= cycle.killAt).length;
    const anomalies = [...cycleAnomalies(cycle, 1 + gateRefusals), ...readAnomalies(reads)];
    if (activePhases.syncStartMs !== null || activePhases.loadingStartMs !== null) {
      anomalies.push('the active started a sync or a load before the switch (I1)');
    }
    anomalies.push(
      ...(await rbuddyAnomalies(ctx, events, status, epochBefore, reads, active, standby)),
    );
    return {
      id: 'rbuddy',
      initialSyncS,
      cycle,
      reads,
      // The active until the switch was announced, the new active from then on.
      withoutDatasetMs: activePhases.withoutDatasetMs + standbyAfter.withoutDatasetMs,
      served: activePhases,
      syncLog: syncLog(standby, cycle.killAt),
      rbuddy: figures,
      anomalies,
    };
  } finally {
    await rbuddy?.stop();
    await Promise.all([active.stop(), standby.stop()]);
    rmSync(active.dir, { recursive: true, force: true });
    rmSync(standby.dir, { recursive: true, force: true });
  }
}
