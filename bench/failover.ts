// The failover figures (issue 3's headline): what a master loss followed by a full resync costs
// the replica applications read, side by side, on one master and one dataset:
//   (a) a plain replica (REPLICAOF the master, default `repl-diskless-load disabled`),
//   (b) a plain replica with `repl-diskless-load swapdb`,
//   (c) rbuddy's active, with a real standby; the reader follows GET /active.
// Each variant goes through the same cycle: a reader reads a known key ~100 times a second; the
// master, which persists with AOF, is killed with SIGKILL and restarted at once. It comes back
// with the same data from its AOF but with a NEW replication history: Redis takes a history
// back only from an RDB (7.0 even lets a master restarted from its RDB accept partial resyncs,
// with the old ID as its secondary one), never from an AOF. So every replica must full-resync
// the whole dataset: the "master restart … or any change of history" of SPEC §1. The bench
// checks that it did (new master_replid, no master_replid2, sync_full 1 and sync_partial_ok 0 on
// the restarted master, the same keys per db).
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../harness/redis-server.js';
import { info, masterStats, populate, type MasterStats } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';
import {
  followActive,
  startTimedReader,
  summarizeReads,
  type ReadSample,
  type ReadSummary,
} from './failover-reader.js';
import {
  startRbuddyCli,
  watchSyncAcks,
  type LoggedEvent,
  type RbuddyUnderTest,
} from './failover-rbuddy.js';
import { phasesOf, watchNode, type NodeSnapshot, type Phases } from './failover-watch.js';
import { notCaughtUp, pointAt, type Endpoint } from './links.js';
import type { ProxyOptions } from './proxy.js';
import { settleDisk } from './settle.js';

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

/** rbuddy's settings for the run (fast detection, as the brief for issue 3 asks). */
export const RBUDDY_TIMING = {
  graceMs: 1_000,
  drainMs: 1_000,
  probeIntervalMs: 250,
  probeTimeoutMs: 1_000,
} as const;

export const READER = { periodMs: 10, timeoutMs: 1_000, key: 'bench:failover:key' } as const;
/** Reads that must succeed before the kill, and after the cycle has completed. */
const BASELINE_READS = 100;
const TAIL_READS = 100;
const READ_VALUE = 'the-value-applications-expect';
const SYNC_TIMEOUT_MS = 240_000;
/** What the PSYNC gate logs when it keeps a +FULLRESYNC from the active (src/standby/engine.ts). */
const GATE_REFUSAL = 'the master demanded a full resync of the active replica';

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
    // +FULLRESYNC, which the gate refused to relay (SPEC §5 step 2: it logs each refusal); the
    // active's INFO shows whether a sync ever reached the active (I1).
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

interface CycleOptions {
  target: () => string | Promise<string>;
  /** Clients whose node's INFO is polled throughout. */
  watch: Redis[];
  what: string;
  /** Whether the variant has recovered (polled every 50 ms after the master is back). */
  completed: (killAt: number) => Promise<boolean>;
}

interface CycleResult {
  cycle: MasterCycle;
  samples: ReadSample[];
  changes: NodeSnapshot[][];
}

/**
 * The measured cycle: the RDB made current, reads start; kill -9 the master, restart it at once
 * from its RDB; wait until the variant has recovered and reads have gone on for a while.
 */
async function masterCycle(ctx: Context, options: CycleOptions): Promise<CycleResult> {
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
async function rewriteAof(client: Redis): Promise<void> {
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
function aofBaseBytes(master: RedisServer): number {
  const dir = join(master.dir, 'appendonlydir');
  const base = readdirSync(dir).find((name) => name.endsWith('.base.rdb'));
  return base === undefined ? NaN : statSync(join(dir, base)).size;
}

const SYNC_LOG_LINE =
  /^(MASTER <-> REPLICA sync|Full resync from master|Partial resynchronization|Trying a partial|Done loading)/;

/**
 * The replica's log lines about its resync (MASTER <-> REPLICA sync…, Full resync…, loading)
 * from the kill on, as `+s.ss s what` (repeats while the master is away collapsed into one
 * `×n`). Redis stamps them in local time: read as UTC, the zone of the machines this runs on;
 * if that puts them outside the run, they are shown with their own stamps.
 */
function syncLog(replica: RedisServer, killAt: number): string {
  const months = 'JanFebMarAprMayJunJulAugSepOctNovDec';
  const entries = replica
    .logTail(400)
    .split('\n')
    .flatMap((line) => {
      const m = /^\d+:\w (\d+) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3}) [*#.-] (.*)$/.exec(
        line,
      );
      if (m === null) return [];
      const [, day, mon, year, h, min, sec, ms, text = ''] = m;
      if (!SYNC_LOG_LINE.test(text)) return [];
      const what = text.replace(/^MASTER <-> REPLICA sync:? /, '').slice(0, 90);
      const at = Date.UTC(
        Number(year),
        months.indexOf(mon ?? '') / 3,
        Number(day),
        Number(h),
        Number(min),
        Number(sec),
        Number(ms),
      );
      return [{ at, stamp: `${h}:${min}:${sec}.${ms}`, what }];
    });
  const inRun = entries.filter((e) => e.at >= killAt - 1_000);
  const plausible = inRun.length > 0 && inRun.every((e) => e.at - killAt < 600_000);
  const shown: Array<{ at: number; stamp: string; what: string; count: number }> = [];
  for (const entry of plausible ? inRun : entries.slice(-12)) {
    const previous = shown.at(-1);
    if (previous?.what === entry.what) previous.count += 1;
    else shown.push({ ...entry, count: 1 });
  }
  return shown
    .map(
      (e) =>
        `${plausible ? `+${((e.at - killAt) / 1000).toFixed(2)} s` : e.stamp} ${e.what}` +
        (e.count > 1 ? ` ×${e.count}` : ''),
    )
    .join('; ');
}

function cycleAnomalies(cycle: MasterCycle, expectedFullSyncs: number): string[] {
  const anomalies: string[] = [];
  if (cycle.replidAfter === cycle.replidBefore || cycle.replidAfter === '?') {
    anomalies.push('the restarted master kept its replication ID (partial resync possible)');
  }
  if (!/^0+$/.test(cycle.replid2After)) {
    anomalies.push(
      `the restarted master carries a secondary replication ID ${cycle.replid2After.slice(0, 8)}…` +
        ' (partial resync possible)',
    );
  }
  if (cycle.syncs.syncPartialOk > 0) {
    anomalies.push(`the restarted master served ${cycle.syncs.syncPartialOk} partial resync(s)`);
  }
  if (cycle.syncs.syncFull !== expectedFullSyncs) {
    anomalies.push(
      `the restarted master served ${cycle.syncs.syncFull} full sync(s), expected ${expectedFullSyncs}`,
    );
  }
  if (cycle.keysAfter !== cycle.keysBefore) {
    anomalies.push(
      `the master came back with other data (${cycle.keysAfter}, was ${cycle.keysBefore})`,
    );
  }
  return anomalies;
}

function readAnomalies(reads: ReadSummary): string[] {
  return reads.readsPerSecond < 50
    ? [`the reader managed only ${reads.readsPerSecond.toFixed(0)} reads/s`]
    : [];
}

async function rbuddyAnomalies(
  ctx: Context,
  events: readonly LoggedEvent[],
  status: Awaited<ReturnType<RbuddyUnderTest['status']>>,
  epochBefore: number | null,
  reads: ReadSummary,
  active: RedisServer,
  standby: RedisServer,
): Promise<string[]> {
  const anomalies: string[] = [];
  if (reads.failed > 0) anomalies.push(`${reads.failed} failed reads through rbuddy`);
  const types = events.map((e) => e.type);
  for (const type of ['failover.failed', 'failover.held'] as const) {
    const count = types.filter((t) => t === type).length;
    if (count > 0) anomalies.push(`${count} × ${type}`);
  }
  if (types.filter((t) => t === 'failover.completed').length !== 1) {
    anomalies.push(
      `failover.completed ${types.filter((t) => t === 'failover.completed').length} times`,
    );
  }
  if (epochBefore === null || status.epoch !== epochBefore + 1) {
    anomalies.push(`epoch went from ${String(epochBefore)} to ${String(status.epoch)}`);
  }
  if (status.active !== standby.address || status.standby !== active.address) {
    anomalies.push(
      `roles after the cycle: active ${String(status.active)}, standby ${String(status.standby)}`,
    );
  }
  const expectedTargets = [`redis://${active.address}/`, `redis://${standby.address}/`];
  if (reads.targets.join() !== expectedTargets.join()) {
    anomalies.push(`the reader was sent to ${reads.targets.join(', ')}`);
  }
  const oldActive = active.client(infoClientOptions(5_000));
  const newActive = standby.client(infoClientOptions(5_000));
  try {
    const masterKeys = keysPerDb(await info(ctx.masterClient, 'keyspace'));
    const newKeys = keysPerDb(await info(newActive, 'keyspace'));
    if (newKeys !== masterKeys) anomalies.push(`new active holds ${newKeys}, master ${masterKeys}`);
    const oldKeys = sumKeys(await info(oldActive, 'keyspace'));
    if (oldKeys !== 0) anomalies.push(`the old active still holds ${oldKeys} keys`);
  } finally {
    oldActive.disconnect();
    newActive.disconnect();
  }
  return anomalies;
}

/** A client that can INFO a loading server (no ready check) and never queues for long. */
function infoClientOptions(commandTimeout: number): {
  enableReadyCheck: false;
  maxRetriesPerRequest: 0;
  commandTimeout: number;
} {
  return { enableReadyCheck: false, maxRetriesPerRequest: 0, commandTimeout };
}

function keysPerDb(keyspace: Record<string, string>): string {
  return Object.entries(keyspace)
    .filter(([name]) => /^db\d+$/.test(name))
    .map(([name, value]) => `${name}=${/keys=(\d+)/.exec(value)?.[1] ?? '?'}`)
    .join(' ');
}

function sumKeys(keyspace: Record<string, string>): number {
  return Object.entries(keyspace)
    .filter(([name]) => /^db\d+$/.test(name))
    .reduce((sum, [, value]) => sum + Number(/keys=(\d+)/.exec(value)?.[1] ?? 0), 0);
}
