// Figure 1 (and 4, 5): a full sync of the whole dataset into an empty replica, timed from
// REPLICAOF until the replica is caught up; through the proxy, also the proxy's CPU time and
// peak RSS over that sync.
import { writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { masterStats } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';
import {
  detach,
  notCaughtUp,
  pointAt,
  type Endpoint,
  type Path,
  type RelayProcess,
} from './links.js';
import { replicationEndpoint, type BenchNodes } from './nodes.js';
import { cpuSeconds, memoryBytes, runQueueWaitSeconds } from './proc-stats.js';
import { startProxy, type BenchProxy, type ProxyOptions } from './proxy.js';
import { settleDisk } from './settle.js';
import { startReferenceRelay, type ReferencePath } from './reference-relays.js';
import { elapsedMs } from './stats.js';

export type SnapshotMode = 'disk' | 'diskless';

export interface ProxyUsage {
  cpuSeconds: number;
  /** `bytes.fromMaster` of the session: snapshot plus everything else relayed to the replica. */
  bytesFromMaster: number;
  snapshotBytes: number | null;
  /** VmHWM at the end of the sync, after resetting it just before (see resetPeakRss). */
  peakRssBytes: number;
  /** Whether the peak was reset before the sync, i.e. is the relay's own peak. */
  peakIsRelayOnly: boolean;
  /** VmRSS just before REPLICAOF: the idle proxy. */
  idleRssBytes: number;
  /** Largest write buffer the relay held towards the replica. */
  peakBufferedToReplica: number;
  /** The failover engine's state at the end (expected `degraded`: see nodes.ts). */
  engineState: string;
}

/** rbuddy's two paths, and the reference relays (reference-relays.ts). */
export type SyncPath = Path | ReferencePath;

export interface FullSyncRun {
  path: SyncPath;
  mode: SnapshotMode;
  seconds: number;
  /** Until the replica started loading: BGSAVE (disk mode) plus the transfer. */
  untilLoadingSeconds: number | null;
  /** From the replica's first snapshot byte (INFO master_sync_read_bytes > 0) until it started
   * loading: the transfer alone, to within the 20 ms polling interval. */
  transferSeconds: number | null;
  /** Waited before the run for the previous run's writes to reach the disk. */
  settleMs: number;
  /** Time the replica's main thread spent waiting for a CPU during the sync: contention. */
  replicaRunQueueSeconds: number;
  proxy: ProxyUsage | undefined;
  /** A reference relay's CPU seconds over the sync (reference paths only). */
  relayCpuSeconds: number | undefined;
}

const POLL_MS = 20;
const SYNC_TIMEOUT_MS = 180_000;

export async function setSnapshotMode(master: Redis, mode: SnapshotMode): Promise<void> {
  await master.config('SET', 'repl-diskless-sync', mode === 'diskless' ? 'yes' : 'no');
  // Redis waits 5 s by default for more replicas before a diskless transfer: not what we time.
  await master.config('SET', 'repl-diskless-sync-delay', '0');
}

/**
 * One full sync into the (empty, detached) replica. Leaves it detached and empty again, and a
 * proxy started for the run stopped.
 */
export async function fullSync(
  nodes: BenchNodes,
  path: SyncPath,
  mode: SnapshotMode,
  proxyOptions: ProxyOptions,
): Promise<FullSyncRun> {
  const { replica, masterClient, replicaClient } = nodes;
  const before = await masterStats(masterClient);
  let proxy: BenchProxy | undefined;
  let relay: RelayProcess | undefined;
  const stopRelay = async (): Promise<void> => {
    await proxy?.stop();
    await relay?.stop();
  };
  try {
    // A fresh proxy per run: its CPU time and peak RSS then belong to this sync alone.
    if (path === 'proxied') proxy = await startProxy(nodes, proxyOptions);
    else if (path !== 'direct') {
      relay = await startReferenceRelay(path, replicationEndpoint(nodes), nodes.tls);
    }
    const settleMs = await settleDisk();
    const upstream: Endpoint = proxy ?? relay ?? replicationEndpoint(nodes);
    const relayCpuBefore = relay === undefined ? 0 : cpuSeconds(relay.pid);
    const idleRssBytes = proxy === undefined ? 0 : memoryBytes(proxy.pid, 'VmRSS');
    const peakIsRelayOnly = proxy === undefined ? false : resetPeakRss(proxy.pid);
    const cpuBefore = proxy === undefined ? 0 : cpuSeconds(proxy.pid);

    const replicaWaitBefore = runQueueWaitSeconds(replica.pid);
    const start = performance.now();
    await pointAt(replicaClient, upstream);
    let firstByteMs: number | null = null;
    let loadingMs: number | null = null;
    const observe = (fields: Record<string, string>): void => {
      if (firstByteMs === null && Number(fields['master_sync_read_bytes'] ?? 0) > 0) {
        firstByteMs = elapsedMs(start);
      }
      if (loadingMs === null && fields['loading'] === '1') loadingMs = elapsedMs(start);
    };
    await waitFor(
      async () => (await notCaughtUp(masterClient, replicaClient, upstream, observe)).length === 0,
      { what: `${path} ${mode} full sync`, timeoutMs: SYNC_TIMEOUT_MS, intervalMs: POLL_MS },
    );
    const seconds = elapsedMs(start) / 1000;
    const replicaRunQueueSeconds = runQueueWaitSeconds(replica.pid) - replicaWaitBefore;

    const relayCpuSeconds =
      relay === undefined ? undefined : cpuSeconds(relay.pid) - relayCpuBefore;
    let usage: ProxyUsage | undefined;
    if (proxy !== undefined) {
      // Read /proc before asking /v1/status: the HTTP request costs the proxy CPU too.
      const cpu = cpuSeconds(proxy.pid) - cpuBefore;
      const peakRssBytes = memoryBytes(proxy.pid, 'VmHWM');
      const session = await proxy.session(replica);
      if (session === undefined) throw new Error('the proxy reports no session for the replica');
      usage = {
        cpuSeconds: cpu,
        bytesFromMaster: session.bytes.fromMaster,
        snapshotBytes: session.snapshot?.size ?? null,
        peakRssBytes,
        peakIsRelayOnly,
        idleRssBytes,
        peakBufferedToReplica: session.buffered.peakToReplica,
        engineState: await proxy.engineState(),
      };
    }
    const after = await masterStats(masterClient);
    if (after.syncFull !== before.syncFull + 1) {
      throw new Error(
        `expected one full sync, the master counted ${after.syncFull - before.syncFull}`,
      );
    }
    await resetReplica(nodes, stopRelay);
    return {
      path,
      mode,
      seconds,
      untilLoadingSeconds: loadingMs === null ? null : loadingMs / 1000,
      transferSeconds:
        loadingMs === null || firstByteMs === null ? null : (loadingMs - firstByteMs) / 1000,
      settleMs,
      replicaRunQueueSeconds,
      proxy: usage,
      relayCpuSeconds,
    };
  } catch (error) {
    // Clean up as far as possible, but report what went wrong first, not a cleanup failure.
    await resetReplica(nodes, stopRelay).catch((cleanup: unknown) =>
      console.error('bench: cleanup after a failed full sync failed too:', cleanup),
    );
    throw error;
  }
}

/** Back to the starting point: replica detached and empty, the run's relay stopped. */
async function resetReplica(nodes: BenchNodes, stopRelay: () => Promise<void>): Promise<void> {
  try {
    await detach(nodes.masterClient, nodes.replicaClient);
    await nodes.replicaClient.flushall();
  } finally {
    await stopRelay();
  }
}

/**
 * Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+), so that the
 * peak read after the sync is the relay's and not start-up's. False when not permitted.
 */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
