// The relay part of the bench: each figure taken on the direct path (replica → master) and on the
// proxied one (replica → rbuddy → master), alternating the two (ABBA) so that drift on a shared
// machine hits both alike: full syncs (disk, then diskless if the time budget allows), catch-up
// after a burst, and WAIT latency under a steady write load, each beside the reference relays.
import type { Redis } from 'ioredis';
import { freePort } from '../harness/processes.js';
import { startRedis } from '../harness/redis-server.js';
import { info, populate } from '../harness/replication.js';
import { catchUp, type CatchUpOptions, type CatchUpRun } from './catch-up.js';
import {
  fullSync,
  setSnapshotMode,
  type FullSyncRun,
  type SnapshotMode,
  type SyncPath,
} from './full-sync.js';
import { attach, detach, type Endpoint, type Path, type RelayProcess } from './links.js';
import { describeMachine, loadAverage } from './machine.js';
import { replicationEndpoint, type BenchNodes } from './nodes.js';
import { progress, started } from './progress.js';
import { startProxy } from './proxy.js';
import {
  availableReferences,
  startReferenceRelay,
  type ReferencePath,
} from './reference-relays.js';
import type { Settings } from './settings.js';
import { masterTlsArgs, replicaTlsArgs, type BenchTls } from './tls.js';
import { startSteadyWriter, waitLatency, type WaitRun } from './wait-latency.js';

/** The relay part should stay around 10 minutes: `auto` runs the diskless syncs only if, at the
 * pace the disk syncs went, everything would still end within this many seconds. */
const BUDGET_S = 600;
/** What the catch-up and WAIT figures take on a quiet machine, with some margin. */
const STREAMING_ESTIMATE_S = 75;

/**
 * The relays of repetition `rep`, run back to back where the ABBA order puts rbuddy: rbuddy first
 * and the references after it in even repetitions, the reverse in odd ones, so that rbuddy and
 * each reference relay also alternate (ABBA) and drift hits both alike: their ratio is the
 * verdict (verdicts.ts).
 */
export function relayOrder(
  rep: number,
  references: readonly ReferencePath[],
): Array<'proxied' | ReferencePath> {
  const order: Array<'proxied' | ReferencePath> = ['proxied', ...references];
  return rep % 2 === 0 ? order : order.reverse();
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

export interface Dataset {
  usedMemory: string;
  keys: number;
}

export interface RelayMeasurements {
  settings: Settings;
  machine: Record<string, string>;
  dataset: Dataset;
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

/** The reference relays for `tls` or plain hops, saying why any is left out. */
export function referencesFor(tls: boolean): RelayMeasurements['references'] {
  const references = availableReferences(tls);
  if (references.skipped !== undefined) {
    progress(`HAProxy rows skipped: ${references.skipped}`);
  }
  return references;
}

/**
 * The master (populated with the dataset) and the replica; with `tls`, replication over TLS
 * (tls.ts). The caller stops them (stopAllRedis).
 */
export async function startNodes(
  settings: Settings,
  tls?: BenchTls,
): Promise<{ nodes: BenchNodes; machine: Record<string, string>; dataset: Dataset }> {
  progress(`starting redis-server ×2 (master, replica)${tls === undefined ? '' : ' with TLS'}`);
  const [master, replica] = await Promise.all([
    startRedis({
      name: 'bench-master',
      // No compression: the snapshot on the wire is as large as the dataset.
      args: {
        rdbcompression: 'no',
        'repl-diskless-sync': 'no',
        'repl-diskless-sync-delay': 0,
        ...(tls === undefined ? {} : masterTlsArgs(tls)),
      },
    }),
    startRedis({
      name: 'bench-replica',
      ...(tls === undefined ? {} : { args: replicaTlsArgs(tls) }),
    }),
  ]);
  const nodes: BenchNodes = {
    master,
    replica,
    standbyAddress: `127.0.0.1:${await freePort()}`,
    masterClient: master.client(),
    replicaClient: replica.client(),
    ...(tls === undefined ? {} : { tls }),
  };
  const { masterClient } = nodes;
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
  return { nodes, machine, dataset };
}

/**
 * `settings.syncReps` full syncs per path in `mode`, ABBA, each proxied one followed by one
 * through each reference relay; in disk mode after an uncounted warm-up sync.
 */
export async function measureFullSyncs(
  nodes: BenchNodes,
  settings: Settings,
  mode: SnapshotMode,
  references: readonly ReferencePath[],
): Promise<{
  runs: Record<Path, FullSyncRun[]>;
  floor: Partial<Record<ReferencePath, FullSyncRun[]>>;
  seconds: number;
}> {
  const what = `full sync${nodes.tls === undefined ? '' : ' over TLS'} (${mode})`;
  await setSnapshotMode(nodes.masterClient, mode);
  if (mode === 'disk') {
    // The first sync after populating pays for a new RDB file and a cold page cache: not kept.
    progress(`${what}: warm-up, direct, not counted`);
    await fullSync(nodes, 'direct', mode, settings.proxy);
  }
  const syncsStart = performance.now();
  const floor: Partial<Record<ReferencePath, FullSyncRun[]>> = {};
  const runs = await alternate(settings.syncReps, async (path, rep) => {
    const one = async (which: SyncPath): Promise<FullSyncRun> => {
      const run = await fullSync(nodes, which, mode, settings.proxy);
      progress(`${what} #${rep + 1} ${which}: ${run.seconds.toFixed(2)} s`);
      return run;
    };
    if (path === 'direct') return one(path);
    let proxied: FullSyncRun | undefined;
    for (const which of relayOrder(rep, references)) {
      if (which === 'proxied') proxied = await one(which);
      else (floor[which] ??= []).push(await one(which));
    }
    if (proxied === undefined) throw new Error('unreachable: relayOrder always has proxied');
    return proxied;
  });
  return { runs, floor, seconds: (performance.now() - syncsStart) / 1000 };
}

/** Points the replica at the master directly or through `proxy`, and waits until caught up. */
export function follower(nodes: BenchNodes, proxy: Endpoint): (path: Path) => Promise<void> {
  const upstream = (path: Path): Endpoint =>
    path === 'direct' ? replicationEndpoint(nodes) : proxy;
  return (path) =>
    attach(
      nodes.masterClient,
      nodes.replicaClient,
      upstream(path),
      `the replica to catch up (${path})`,
    );
}

/** What the relay and the TLS parts both measure: full syncs and WAITs, beside the references. */
export type SyncAndWaitMeasurements = Pick<
  RelayMeasurements,
  | 'settings'
  | 'machine'
  | 'dataset'
  | 'references'
  | 'full'
  | 'fullFloor'
  | 'wait'
  | 'waitFloor'
  | 'writer'
>;

export async function measureRelay(settings: Settings): Promise<RelayMeasurements> {
  const references = referencesFor(false);
  const { nodes, machine, dataset } = await startNodes(settings);
  const { masterClient, replicaClient } = nodes;
  const full: RelayMeasurements['full'] = {};
  const fullFloor: RelayMeasurements['fullFloor'] = {};
  let measuredSyncsS = 0;
  const syncAll = async (mode: SnapshotMode): Promise<void> => {
    const measured = await measureFullSyncs(nodes, settings, mode, references.paths);
    full[mode] = measured.runs;
    fullFloor[mode] = measured.floor;
    measuredSyncsS = measured.seconds;
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
    const follow = follower(nodes, proxy);

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

export async function measureWaits(
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
      const master = replicationEndpoint(nodes);
      relays.set(reference, await startReferenceRelay(reference, master, nodes.tls));
    }
    await follow('direct');
    // Warms up the client's code paths; not counted.
    await waitLatency(client, 'direct', 200);
    const waitFloor: Partial<Record<ReferencePath, WaitRun[]>> = {};
    const wait = await alternate(settings.reps, async (path, rep) => {
      if (path === 'direct') {
        await follow(path);
        const run = await waitLatency(client, path, settings.waitIterations);
        report(rep, run);
        return run;
      }
      let proxied: WaitRun | undefined;
      for (const which of relayOrder(rep, references)) {
        if (which === 'proxied') await follow('proxied');
        else {
          const relay = relays.get(which);
          if (relay === undefined) throw new Error(`the ${which} relay was not started`);
          await attach(client, replica, relay, `the replica to catch up (${which})`);
        }
        const run = await waitLatency(client, which, settings.waitIterations);
        report(rep, run);
        if (which === 'proxied') proxied = run;
        else (waitFloor[which] ??= []).push(run);
      }
      if (proxied === undefined) throw new Error('unreachable: relayOrder always has proxied');
      return proxied;
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
