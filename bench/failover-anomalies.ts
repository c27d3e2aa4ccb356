// What would make a failover run not what it claims to be: a master that came back with its old
// history or other data, partial resyncs, a reader too slow to see a gap, and for rbuddy, events,
// epochs, roles or data other than a completed failover leaves.
import type { Redis } from 'ioredis';
import type { RedisServer } from '../harness/redis-server.js';
import { info } from '../harness/replication.js';
import type { MasterCycle } from './failover-cycle.js';
import type { ReadSummary } from './failover-reader.js';
import type { LoggedEvent, RbuddyUnderTest } from './failover-rbuddy.js';
import { infoClientOptions, keysPerDb, sumKeys } from './node-info.js';

export function cycleAnomalies(cycle: MasterCycle, expectedFullSyncs: number): string[] {
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

export function readAnomalies(reads: ReadSummary): string[] {
  return reads.readsPerSecond < 50
    ? [`the reader managed only ${reads.readsPerSecond.toFixed(0)} reads/s`]
    : [];
}

export async function rbuddyAnomalies(
  ctx: { masterClient: Redis },
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
