// `npm run bench`: the relay's cost, measured. Each figure is taken on the direct path
// (replica → master) and on the proxied one (replica → rbuddy → master), alternating the two
// (ABBA) so that drift on a shared machine hits both alike, and reported as the median of the
// repetitions. Prints a table, rewrites the results part of docs/benchmarks.md, and exits 0
// whatever the figures say: this is a measurement, not a test.
//
// Knobs (environment): RBUDDY_BENCH_MB (dataset, default 1024), RBUDDY_BENCH_SYNC_REPS (full
// syncs per path and snapshot mode, 4), RBUDDY_BENCH_REPS (runs per path of the streaming
// figures, 5), RBUDDY_BENCH_BURST (SETs per burst, 200000), RBUDDY_BENCH_WAIT_N (WAITs per
// run, 5000),
// RBUDDY_BENCH_WRITE_RATE (steady writes/s during the WAITs, 10000), RBUDDY_BENCH_DISKLESS
// (auto | yes | no; auto runs the diskless syncs when the time budget allows),
// RBUDDY_BENCH_PROXY (dist | tsx, see proxy.ts), RBUDDY_BENCH_NODE_ARGS (extra node flags for
// the proxy, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"; dist only), RBUDDY_BENCH_ONLY (relay |
// failover: run one part; default both).
//
// The failover part (failover.ts) measures issue 3's headline figure: failed reads through a
// master loss and full resync for a plain replica, a swapdb replica and rbuddy's active. Each
// part rewrites its own block of docs/benchmarks.md, so running one keeps the other's results.
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { freePort } from '../harness/processes.js';
import { startRedis, stopAllRedis } from '../harness/redis-server.js';
import { info, populate } from '../harness/replication.js';
import { catchUp, type CatchUpOptions, type CatchUpRun } from './catch-up.js';
import { fullSync, setSnapshotMode, type FullSyncRun, type SnapshotMode } from './full-sync.js';
import { attach, detach, type Endpoint, type Path } from './links.js';
import type { BenchNodes } from './nodes.js';
import { measureFailover, type FailoverMeasurements } from './failover.js';
import { stopAllRbuddyClis } from './failover-rbuddy.js';
import { stopAllTimedReaders } from './failover-reader.js';
import { failoverDetails, failoverResultsMarkdown, failoverText } from './failover-report.js';
import { busyWarning, describeMachine, loadAverage } from './machine.js';
import { buildProxy, startProxy, stopAllProxies, type ProxyOptions } from './proxy.js';
import {
  FAILOVER_MARKERS,
  limitRow,
  markdownResults,
  markdownTable,
  ratioRow,
  skippedRow,
  textTable,
  writeResults,
  type Row,
} from './report.js';
import { median, percentile } from './stats.js';
import { startSteadyWriter, waitLatency, type WaitRun } from './wait-latency.js';
import {
  availableReferences,
  startReferenceRelay,
  type ReferencePath,
} from './reference-relays.js';
import type { RelayProcess } from './links.js';

const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
const MB = 1e6;
const GB = 1e9;
/** The relay part should stay around 10 minutes: `auto` runs the diskless syncs only if, at the
 * pace the disk syncs went, everything would still end within this many seconds. */
const BUDGET_S = 600;
/** What the catch-up and WAIT figures take on a quiet machine, with some margin. */
const STREAMING_ESTIMATE_S = 75;

interface Settings {
  megabytes: number;
  syncReps: number;
  reps: number;
  burst: number;
  waitIterations: number;
  writeRate: number;
  diskless: 'auto' | 'yes' | 'no';
  proxy: ProxyOptions;
  only: 'all' | 'relay' | 'failover';
}

function settingsFromEnv(env: NodeJS.ProcessEnv): Settings {
  const int = (name: string, fallback: number, min: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
    }
    return value;
  };
  const diskless = env['RBUDDY_BENCH_DISKLESS'] ?? 'auto';
  if (diskless !== 'auto' && diskless !== 'yes' && diskless !== 'no') {
    throw new Error(`RBUDDY_BENCH_DISKLESS must be auto, yes or no, got ${diskless}`);
  }
  const runtime = env['RBUDDY_BENCH_PROXY'] ?? 'dist';
  if (runtime !== 'dist' && runtime !== 'tsx') {
    throw new Error(`RBUDDY_BENCH_PROXY must be dist or tsx, got ${runtime}`);
  }
  const nodeArgs = (env['RBUDDY_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter((arg) => arg !== '');
  if (nodeArgs.length > 0 && runtime === 'tsx') {
    throw new Error('RBUDDY_BENCH_NODE_ARGS needs RBUDDY_BENCH_PROXY=dist');
  }
  const only = env['RBUDDY_BENCH_ONLY'] ?? 'all';
  if (only !== 'all' && only !== 'relay' && only !== 'failover') {
    throw new Error(`RBUDDY_BENCH_ONLY must be relay or failover, got ${only}`);
  }
  return {
    megabytes: int('RBUDDY_BENCH_MB', 1024, 1),
    syncReps: int('RBUDDY_BENCH_SYNC_REPS', 4, 1),
    reps: int('RBUDDY_BENCH_REPS', 5, 1),
    burst: int('RBUDDY_BENCH_BURST', 200_000, 1_000),
    waitIterations: int('RBUDDY_BENCH_WAIT_N', 5_000, 100),
    writeRate: int('RBUDDY_BENCH_WRITE_RATE', 10_000, 100),
    diskless,
    proxy: { runtime, nodeArgs },
    only,
  };
}

const started = performance.now();

function progress(message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  console.error(`[${seconds}s] ${message}`);
}

/** Runs `measure` for both paths `reps` times, in ABBA order: D P, P D, D P … */
async function alternate<T>(reps: number, measure: (path: Path, rep: number) => Promise<T>) {
  const results: Record<Path, T[]> = { direct: [], proxied: [] };
  for (let rep = 0; rep < reps; rep += 1) {
    const order: Path[] = rep % 2 === 0 ? ['direct', 'proxied'] : ['proxied', 'direct'];
    for (const path of order) results[path].push(await measure(path, rep));
  }
  return results;
}

const fixed = (digits: number) => (value: number) => value.toFixed(digits);
const list = (values: readonly number[], digits = 2): string =>
  values.map(fixed(digits)).join(' / ');

interface Measurements {
  settings: Settings;
  machine: Record<string, string>;
  dataset: { usedMemory: string; keys: number };
  full: Partial<Record<SnapshotMode, Record<Path, FullSyncRun[]>>>;
  /** The reference relays measured beside rbuddy, and why one was left out. */
  references: ReturnType<typeof availableReferences>;
  /** Full syncs through each reference relay, run right after each proxied one. */
  fullFloor: Partial<Record<SnapshotMode, Partial<Record<ReferencePath, FullSyncRun[]>>>>;
  disklessSkipped: string | undefined;
  catchUp: Record<Path, CatchUpRun[]>;
  catchUpOptions: CatchUpOptions;
  wait: Record<Path, WaitRun[]>;
  /** WAITs through each reference relay, run right after each proxied run. */
  waitFloor: Partial<Record<ReferencePath, WaitRun[]>>;
  writer: { writes: number; seconds: number };
}

async function measure(settings: Settings): Promise<Measurements> {
  const references = availableReferences();
  if (references.skipped !== undefined) {
    progress(`HAProxy rows skipped: ${references.skipped}`);
  }
  progress('starting redis-server ×2 (master, replica)');
  const [master, replica] = await Promise.all([
    startRedis({
      name: 'bench-master',
      // No compression: the snapshot on the wire is as large as the dataset.
      args: { rdbcompression: 'no', 'repl-diskless-sync': 'no', 'repl-diskless-sync-delay': 0 },
    }),
    startRedis({ name: 'bench-replica' }),
  ]);
  const nodes: BenchNodes = {
    master,
    replica,
    standbyAddress: `127.0.0.1:${await freePort()}`,
    masterClient: master.client(),
    replicaClient: replica.client(),
  };
  const { masterClient, replicaClient } = nodes;
  const server = await info(masterClient, 'server');
  const machine = describeMachine(server['redis_version'] ?? 'unknown');

  progress(`populating the master with ${settings.megabytes} MiB of random values`);
  await populate(masterClient, { megabytes: settings.megabytes });
  const memory = await info(masterClient, 'memory');
  const keyspace = await info(masterClient, 'keyspace');
  const keys = Object.values(keyspace).reduce(
    (sum, text) => sum + Number(/keys=(\d+)/.exec(text)?.[1] ?? 0),
    0,
  );
  const dataset = { usedMemory: memory['used_memory_human'] ?? '?', keys };
  progress(`dataset: ${keys} keys, used_memory ${dataset.usedMemory}`);

  const full: Measurements['full'] = {};
  const fullFloor: Measurements['fullFloor'] = {};
  let measuredSyncsS = 0;
  const syncAll = async (mode: SnapshotMode): Promise<void> => {
    await setSnapshotMode(masterClient, mode);
    if (mode === 'disk') {
      // The first sync after populating pays for a new RDB file and a cold page cache: not kept.
      progress('full sync (disk): warm-up, direct, not counted');
      await fullSync(nodes, 'direct', mode, settings.proxy);
    }
    const syncsStart = performance.now();
    const floor: Partial<Record<ReferencePath, FullSyncRun[]>> = {};
    full[mode] = await alternate(settings.syncReps, async (path, rep) => {
      const run = await fullSync(nodes, path, mode, settings.proxy);
      progress(`full sync (${mode}) #${rep + 1} ${path}: ${run.seconds.toFixed(2)} s`);
      if (path === 'proxied') {
        for (const reference of references.paths) {
          const other = await fullSync(nodes, reference, mode, settings.proxy);
          progress(`full sync (${mode}) #${rep + 1} ${reference}: ${other.seconds.toFixed(2)} s`);
          (floor[reference] ??= []).push(other);
        }
      }
      return run;
    });
    fullFloor[mode] = floor;
    measuredSyncsS = (performance.now() - syncsStart) / 1000;
  };
  await syncAll('disk');
  let disklessSkipped: string | undefined;
  const elapsed = (performance.now() - started) / 1000;
  const projected = elapsed + measuredSyncsS + STREAMING_ESTIMATE_S;
  if (settings.diskless === 'no') disklessSkipped = 'RBUDDY_BENCH_DISKLESS=no';
  else if (settings.diskless === 'auto' && projected > BUDGET_S) {
    disklessSkipped =
      `time budget: ${elapsed.toFixed(0)} s spent, the disk syncs took ` +
      `${measuredSyncsS.toFixed(0)} s; set RBUDDY_BENCH_DISKLESS=yes to run them anyway`;
  }
  if (disklessSkipped === undefined) await syncAll('diskless');
  else progress(`diskless full syncs skipped: ${disklessSkipped}`);

  // Streaming figures: a small dataset, so that moving the replica between the two paths is a
  // partial resync (+CONTINUE), not another gigabyte.
  progress('streaming figures: flushing the master, one proxy for the rest of the run');
  await masterClient.flushall();
  await setSnapshotMode(masterClient, 'disk');
  const proxy = await startProxy(nodes, settings.proxy);
  try {
    const upstream = (path: Path): Endpoint =>
      path === 'direct' ? { host: master.host, port: master.port } : proxy;
    const follow = (path: Path): Promise<void> =>
      attach(masterClient, replicaClient, upstream(path), `the replica to catch up (${path})`);

    const catchUpOptions: CatchUpOptions = {
      commands: settings.burst,
      batch: 1_000,
      window: 4,
      valueBytes: 100,
    };
    await follow('direct');
    // The first burst creates the keys; the measured ones overwrite them, all doing equal work.
    await catchUp(masterClient, replicaClient, 'direct', catchUpOptions);
    const catchUpRuns = await alternate(settings.reps, async (path, rep) => {
      await follow(path);
      const run = await catchUp(masterClient, replicaClient, path, catchUpOptions);
      progress(
        `catch-up #${rep + 1} ${path}: ${run.lagMs.toFixed(1)} ms after a ` +
          `${run.burstMs.toFixed(0)} ms burst`,
      );
      return run;
    });

    const { wait, waitFloor, writer } = await measureWaits(
      settings,
      nodes,
      follow,
      references.paths,
    );
    await detach(masterClient, replicaClient);
    return {
      settings,
      machine: { ...machine, 'load average at end': loadAverage() },
      dataset,
      full,
      references,
      fullFloor,
      disklessSkipped,
      catchUp: catchUpRuns,
      catchUpOptions,
      wait,
      waitFloor,
      writer,
    };
  } finally {
    await proxy.stop();
  }
}

async function measureWaits(
  settings: Settings,
  nodes: BenchNodes,
  follow: (path: Path) => Promise<void>,
  references: readonly ReferencePath[],
): Promise<{
  wait: Record<Path, WaitRun[]>;
  waitFloor: Partial<Record<ReferencePath, WaitRun[]>>;
  writer: { writes: number; seconds: number };
}> {
  progress(`WAIT latency: steady writer at ${settings.writeRate} SET/s in its own process`);
  const writer = await startSteadyWriter(nodes.master, settings.writeRate);
  const relays = new Map<ReferencePath, RelayProcess>();
  const client: Redis = nodes.master.client();
  const replica: Redis = nodes.replica.client();
  const report = (rep: number, run: WaitRun): void =>
    progress(
      `WAIT #${rep + 1} ${run.path}: p50 ${run.p50Ms.toFixed(3)} ms, ` +
        `p99 ${run.p99Ms.toFixed(3)} ms` +
        (run.timeouts > 0 ? `, ${run.timeouts} timeouts` : ''),
    );
  try {
    for (const reference of references) {
      relays.set(reference, await startReferenceRelay(reference, nodes.master));
    }
    await follow('direct');
    // Warms up the client's code paths; not counted.
    await waitLatency(client, 'direct', 200);
    const waitFloor: Partial<Record<ReferencePath, WaitRun[]>> = {};
    const wait = await alternate(settings.reps, async (path, rep) => {
      await follow(path);
      const run = await waitLatency(client, path, settings.waitIterations);
      report(rep, run);
      if (path === 'proxied') {
        for (const [reference, relay] of relays) {
          await attach(client, replica, relay, `the replica to catch up (${reference})`);
          const floor = await waitLatency(client, reference, settings.waitIterations);
          report(rep, floor);
          (waitFloor[reference] ??= []).push(floor);
        }
      }
      return run;
    });
    return { wait, waitFloor, writer: await writer.stop() };
  } catch (error) {
    await writer.stop().catch(() => undefined);
    throw error;
  } finally {
    client.disconnect();
    replica.disconnect();
    await Promise.all([...relays.values()].map((relay) => relay.stop()));
  }
}

function buildRows(m: Measurements): Row[] {
  const rows: Row[] = [];
  const size = (runs: readonly FullSyncRun[]): string => {
    const bytes = runs.find((run) => run.proxy?.snapshotBytes != null)?.proxy?.snapshotBytes;
    return bytes == null ? `${m.settings.megabytes} MiB` : `${(bytes / GB).toFixed(2)} GB`;
  };
  for (const mode of ['disk', 'diskless'] as const) {
    const runs = m.full[mode];
    const figure = `1. full sync, ${mode} snapshot`;
    if (runs === undefined) {
      rows.push(skippedRow(figure, 'ratio ≤ 1.03', 'skipped'));
      continue;
    }
    const seconds = (path: Path): number => median(runs[path].map((run) => run.seconds));
    rows.push(
      ratioRow(
        `${figure} (${size(runs.proxied)})`,
        's',
        seconds('direct'),
        seconds('proxied'),
        1.03,
      ),
    );
    for (const reference of m.references.paths) {
      const floor = m.fullFloor[mode]?.[reference] ?? [];
      if (floor.length === 0) continue;
      rows.push(
        ratioRow(
          `1. … via ${m.references.labels[reference]}`,
          's',
          seconds('direct'),
          median(floor.map((run) => run.seconds)),
          undefined,
        ),
      );
    }
  }
  const lag = (path: Path): number => median(m.catchUp[path].map((run) => run.lagMs));
  rows.push(
    ratioRow(
      `2. catch-up after ${m.catchUpOptions.commands / 1000}k-SET burst`,
      'ms',
      lag('direct'),
      lag('proxied'),
      undefined,
      1,
    ),
  );
  const wait = (path: Path, key: 'p50Ms' | 'p99Ms'): number =>
    median(m.wait[path].map((run) => run[key]));
  rows.push(
    ratioRow(
      '3. WAIT 1 p50 under load',
      'ms',
      wait('direct', 'p50Ms'),
      wait('proxied', 'p50Ms'),
      undefined,
      3,
    ),
  );
  rows.push(
    ratioRow(
      '3. WAIT 1 p99 under load',
      'ms',
      wait('direct', 'p99Ms'),
      wait('proxied', 'p99Ms'),
      1.3,
      3,
    ),
  );
  for (const reference of m.references.paths) {
    const floor = m.waitFloor[reference] ?? [];
    if (floor.length === 0) continue;
    rows.push(
      ratioRow(
        `3. … p99 via ${m.references.labels[reference]}`,
        'ms',
        wait('direct', 'p99Ms'),
        median(floor.map((run) => run.p99Ms)),
        undefined,
        3,
      ),
    );
  }
  const proxied = [...(m.full.disk?.proxied ?? []), ...(m.full.diskless?.proxied ?? [])];
  const usage = proxied.flatMap((run) => (run.proxy === undefined ? [] : [run.proxy]));
  rows.push(
    limitRow(
      '4. proxy peak RSS relaying the snapshot',
      'MB',
      median(usage.map((u) => u.peakRssBytes / MB)),
      100,
      1,
    ),
  );
  rows.push(
    limitRow(
      '5. proxy CPU per GB relayed',
      's/GB',
      median(usage.map((u) => u.cpuSeconds / (u.bytesFromMaster / GB))),
      1,
      3,
    ),
  );
  for (const reference of m.references.paths) {
    const floorCpu = relayCpuPerGb(m, reference);
    if (floorCpu.length === 0) continue;
    rows.push(
      limitRow(
        `5. … ${m.references.labels[reference]}, CPU per GB`,
        's/GB',
        median(floorCpu),
        undefined,
        3,
      ),
    );
  }
  if (m.references.skipped !== undefined) {
    rows.push(skippedRow('1., 3., 5. … via HAProxy', '—', `skipped: ${m.references.skipped}`));
  }
  return rows;
}

/**
 * A reference relay's CPU seconds per GB, for each of its syncs. It counts no bytes itself:
 * each sync moved what the proxied run just before it relayed (same dataset, same snapshot).
 */
function relayCpuPerGb(m: Measurements, reference: ReferencePath, only?: SnapshotMode): number[] {
  return (['disk', 'diskless'] as const)
    .filter((mode) => only === undefined || mode === only)
    .flatMap((mode) =>
      (m.fullFloor[mode]?.[reference] ?? []).flatMap((run, i) => {
        const bytes = m.full[mode]?.proxied[i]?.proxy?.bytesFromMaster;
        return run.relayCpuSeconds === undefined || bytes === undefined
          ? []
          : [run.relayCpuSeconds / (bytes / GB)];
      }),
    );
}

function details(m: Measurements): string {
  const lines: string[] = [];
  for (const mode of ['disk', 'diskless'] as const) {
    const runs = m.full[mode];
    if (runs === undefined) {
      lines.push(`- Full sync, ${mode}: skipped (${m.disklessSkipped ?? 'not run'}).`);
      continue;
    }
    for (const path of ['direct', 'proxied'] as const) {
      const until = runs[path].map((run) => run.untilLoadingSeconds ?? NaN);
      const transfer = runs[path].map((run) => run.transferSeconds ?? NaN);
      lines.push(
        `- Full sync, ${mode}, ${path}: ${list(runs[path].map((run) => run.seconds))} s; ` +
          `until the replica started loading: ${list(until)} s (median ` +
          `${median(until).toFixed(2)} s), of which the transfer from its first byte: ` +
          `${list(transfer)} s (median ${median(transfer).toFixed(2)} s); the replica waited ` +
          `for a CPU ${list(runs[path].map((run) => run.replicaRunQueueSeconds))} s; ` +
          `waited for the disk before each: ${list(
            runs[path].map((run) => run.settleMs / 1000),
            1,
          )} s.`,
      );
    }
    for (const reference of m.references.paths) {
      const floor = m.fullFloor[mode]?.[reference] ?? [];
      if (floor.length === 0) continue;
      lines.push(
        `- Full sync, ${mode}, ${m.references.labels[reference]}: ` +
          `${list(floor.map((run) => run.seconds))} s; transfer from the first byte ` +
          `${list(floor.map((run) => run.transferSeconds ?? NaN))} s; its CPU ` +
          `${list(relayCpuPerGb(m, reference, mode), 3)} s/GB.`,
      );
    }
    const pairs = runs.direct.map(
      (direct, i) => (runs.proxied[i]?.seconds ?? NaN) / direct.seconds,
    );
    lines.push(
      `- Full sync, ${mode}, proxied / direct within each ABBA pair: ${list(pairs, 3)} ` +
        `(median ${median(pairs).toFixed(3)}).`,
    );
    for (const run of runs.proxied) {
      const u = run.proxy;
      if (u === undefined) continue;
      lines.push(
        `  - proxy, ${mode}: ${u.cpuSeconds.toFixed(2)} CPU s for ` +
          `${(u.bytesFromMaster / GB).toFixed(3)} GB relayed ` +
          `(${(u.cpuSeconds / (u.bytesFromMaster / GB)).toFixed(3)} s/GB); ` +
          `peak RSS ${(u.peakRssBytes / MB).toFixed(1)} MB` +
          `${u.peakIsRelayOnly ? '' : ' (start-up included: VmHWM could not be reset)'}, ` +
          `idle RSS ${(u.idleRssBytes / MB).toFixed(1)} MB, ` +
          `peak write buffer to the replica ${(u.peakBufferedToReplica / 1024).toFixed(0)} KiB; ` +
          `failover engine ${u.engineState}.`,
      );
    }
  }
  for (const path of ['direct', 'proxied'] as const) {
    const runs = m.catchUp[path];
    lines.push(
      `- Catch-up, ${path}: ${list(
        runs.map((run) => run.lagMs),
        1,
      )} ms after bursts of ${list(
        runs.map((run) => run.burstMs),
        0,
      )} ms (${((runs[0]?.streamBytes ?? 0) / MB).toFixed(1)} MB of stream each).`,
    );
  }
  const waits: Array<[string, readonly WaitRun[]]> = [
    ['direct', m.wait.direct],
    ['proxied', m.wait.proxied],
    ...m.references.paths.map((reference): [string, readonly WaitRun[]] => [
      m.references.labels[reference],
      m.waitFloor[reference] ?? [],
    ]),
  ];
  for (const [name, runs] of waits) lines.push(`- WAIT, ${name}: ${waitSummary(runs)}.`);
  const pooled = (runs: readonly WaitRun[], p: number): string =>
    percentile(
      runs.flatMap((run) => run.samplesMs),
      p,
    ).toFixed(3);
  const all = waits.map(([, runs]) => runs);
  lines.push(
    `- WAIT, all samples pooled: p50 ${all.map((runs) => pooled(runs, 50)).join(' / ')} ms, ` +
      `p99 ${all.map((runs) => pooled(runs, 99)).join(' / ')} ms, ` +
      `p99.9 ${all.map((runs) => pooled(runs, 99.9)).join(' / ')} ms ` +
      `(${waits.map(([name]) => name).join(' / ')}).`,
  );
  lines.push(
    `- Steady writer: ${Math.round(m.writer.writes / m.writer.seconds)} SET/s achieved ` +
      `(asked ${m.settings.writeRate}).`,
  );
  return lines.join('\n');
}

function waitSummary(runs: readonly WaitRun[]): string {
  return `p50 ${list(
    runs.map((run) => run.p50Ms),
    3,
  )} ms; p99 ${list(
    runs.map((run) => run.p99Ms),
    3,
  )} ms; max ${list(
    runs.map((run) => run.maxMs),
    1,
  )} ms; timeouts ${runs.map((run) => run.timeouts).join(' / ')}`;
}

function method(m: Measurements): string {
  const s = m.settings;
  return [
    `- Dataset: \`populate()\` from harness/replication.ts, ${s.megabytes} MiB of random ` +
      `1000-byte values over dbs 0–2 plus typed keys: ${m.dataset.keys} keys, used_memory ` +
      `${m.dataset.usedMemory}. Master with \`rdbcompression no\`, ` +
      `\`repl-diskless-sync-delay 0\`; replica with default settings (disk-backed load).`,
    `- Full sync: a warm-up sync (disk, direct, not counted), then for each snapshot mode ` +
      `${s.syncReps} × (direct, proxied) ` +
      `in ABBA order, each proxied sync followed by one through each reference relay ` +
      `(${referencesRun(m)}; their CPU per GB uses the bytes the proxied sync before relayed). ` +
      `Timed from \`REPLICAOF\` until the replica's INFO shows ` +
      `\`master_link_status:up\`, \`master_sync_in_progress:0\`, \`loading:0\` and ` +
      `\`master_repl_offset\` ≥ the master's (polled every 20 ms). Between runs: ` +
      `\`REPLICAOF NO ONE\`, \`FLUSHALL\`, the master drops the link, and the machine's dirty ` +
      `pages drain below 32 MiB (the previous run's RDB fsyncs). The master counts one ` +
      `\`sync_full\` per run, and every \`REPLICAOF\` opens a new link (both checked).`,
    `- Proxy: the real CLI as a child process, ${proxyCommand(s.proxy)} (the PID is checked ` +
      `to be the node binary itself), one fresh process per proxied full sync, one for all the ` +
      `streaming figures. CPU = utime + stime from /proc/<pid>/stat ` +
      `across the sync; peak RSS = VmHWM from /proc/<pid>/status, reset to the current RSS ` +
      `(\`clear_refs\` 5) just before \`REPLICAOF\`; bytes = the session's ` +
      `\`bytes.fromMaster\` from GET /v1/status. MB = 10⁶ bytes, GB = 10⁹ bytes. Its ` +
      `configured standby is an address nobody listens on: on a first start with the standby ` +
      `unreachable the failover engine stays \`degraded\` and never sends \`REPLICAOF\` ` +
      `itself, so the bench alone points the replica and the proxy is measured as a relay.`,
    `- Catch-up: master flushed, replica moved between the paths by \`REPLICAOF\` (partial ` +
      `resync). ${s.burst} SETs of 100-byte values in pipelines of ` +
      `${m.catchUpOptions.batch}, ${m.catchUpOptions.window} in flight; timed from the last ` +
      `reply until the replica's ROLE offset reaches the master's (polled back to back for ` +
      `20 ms, then every ~1 ms). One ` +
      `warm-up burst, then ${s.reps} × (direct, proxied) in ABBA order.`,
    `- WAIT: a separate process writes ${s.writeRate} SET/s (pipelines every 10 ms); the bench ` +
      `runs \`SET\` then \`WAIT 1 1000\` ${s.waitIterations} times per run, timing the WAIT ` +
      `alone; ${s.reps} × (direct, proxied) in ABBA order, after 200 uncounted warm-up ` +
      `WAITs; the table shows the median over runs of each run's p50 and p99. Right after ` +
      `each proxied run, one run through each reference relay (${referencesRun(m)}).`,
    `- Reference relays, each in its own process: a bare Node pipe (bench/bare-relay.ts: ` +
      `\`socket.pipe()\` both ways, nothing parsed), the floor any relay written for Node ` +
      `starts from on this machine; and HAProxy (bench/haproxy-relay.ts: Debian's package, ` +
      `\`mode tcp\`, its default threads, no splicing), a native relay, the least the extra ` +
      `hop costs here whoever makes it.` +
      (m.references.skipped === undefined ? '' : ` HAProxy was skipped: ${m.references.skipped}.`),
    `- Rows 4 and 5 are the median over every proxied full sync (disk and diskless).`,
  ].join('\n');
}

function referencesRun(m: Measurements): string {
  return m.references.paths.map((reference) => m.references.labels[reference]).join(', ');
}

function proxyCommand(proxy: ProxyOptions): string {
  if (proxy.runtime === 'tsx') return '`node --import tsx src/cli.ts` (harness/rbuddy-process.ts)';
  const flags = proxy.nodeArgs.length > 0 ? `${proxy.nodeArgs.join(' ')} ` : '';
  return `\`node ${flags}.bench-tmp/dist/cli.js\` (src/ compiled with tsconfig.build.json)`;
}

function resultsMarkdown(m: Measurements, rows: readonly Row[], seconds: number): string {
  const machine = markdownTable(
    ['', ''],
    Object.entries(m.machine).map(([key, value]) => [key, value]),
  );
  return [
    `## Latest results`,
    `Generated by \`npm run bench\` on ${m.machine['date'] ?? '?'} in ${seconds.toFixed(0)} s.`,
    machine,
    markdownResults(rows),
    ...[busyWarning(m.machine)].flatMap((warning) =>
      warning === undefined ? [] : [`> ${warning}`],
    ),
    `### Runs`,
    details(m),
    `### Method, as run`,
    method(m),
  ].join('\n\n');
}

async function cleanUp(): Promise<void> {
  await stopAllTimedReaders();
  await stopAllProxies();
  await stopAllRbuddyClis();
  await stopAllRedis();
}

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error(`\nbench: ${signal}, stopping every process it started`);
  void cleanUp()
    .catch((error: unknown) => console.error('bench: cleanup failed', error))
    .finally(() => process.exit(130));
}

async function main(): Promise<void> {
  // Installed before any child starts, so they run before processes.ts's own hooks (which
  // SIGKILL the children); ours then wait for the exits and remove the temp dirs.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const settings = settingsFromEnv(process.env);
  let cli: string | undefined;
  if (settings.proxy.runtime === 'dist') {
    progress('compiling src/ into .bench-tmp/dist (tsconfig.build.json)');
    cli = buildProxy();
  }
  if (settings.only !== 'failover') await relayPart(settings);
  if (settings.only !== 'relay') await failoverPart(settings, cli);
}

async function relayPart(settings: Settings): Promise<void> {
  let m: Measurements;
  try {
    m = await measure(settings);
  } finally {
    await cleanUp();
  }
  const seconds = (performance.now() - started) / 1000;
  const rows = buildRows(m);
  console.log(`\nrbuddy relay benchmark (${m.machine['date'] ?? ''})`);
  console.log(
    `machine: ${m.machine['nproc'] ?? '?'} cpus, ${m.machine['memory'] ?? '?'}, node ` +
      `${m.machine['node'] ?? '?'}, redis ${m.machine['redis'] ?? '?'}; proxy: ` +
      `${proxyCommand(settings.proxy)}\n`,
  );
  console.log(textTable(rows));
  const warning = busyWarning(m.machine);
  if (warning !== undefined) console.log(`\n${warning}`);
  console.log(`\n${details(m)}\n`);
  await writeResults(DOC, resultsMarkdown(m, rows, seconds));
  console.log(`relay results written to docs/benchmarks.md (${seconds.toFixed(0)} s)`);
}

async function failoverPart(settings: Settings, cli: string | undefined): Promise<void> {
  const partStarted = performance.now();
  // Date and load at the start of this part; the Redis version is filled in once known.
  const described = describeMachine('?');
  let m: FailoverMeasurements;
  try {
    m = await measureFailover(
      { megabytes: settings.megabytes, proxy: settings.proxy, cli },
      progress,
    );
  } finally {
    await cleanUp();
  }
  described['redis'] = m.redisVersion;
  described['load average at end'] = loadAverage();
  const seconds = (performance.now() - partStarted) / 1000;
  console.log(`\nrbuddy failover benchmark (${described['date'] ?? ''})\n`);
  console.log(failoverText(m));
  const warning = busyWarning(described);
  if (warning !== undefined) console.log(`\n${warning}`);
  console.log(`\n${failoverDetails(m)}\n`);
  await writeResults(DOC, failoverResultsMarkdown(m, described, seconds), FAILOVER_MARKERS);
  console.log(`failover results written to docs/benchmarks.md (${seconds.toFixed(0)} s)`);
}

main().catch((error: unknown) => {
  console.error('bench failed:', error);
  process.exitCode = 1;
});
