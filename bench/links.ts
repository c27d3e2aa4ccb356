// Pointing the benchmark's replica at the master, directly or through the proxy, and knowing
// when it has caught up. Offsets come from ROLE (cheap enough to poll in a tight loop); the
// "sync finished" test reads INFO, as an operator would.
import type { Redis } from 'ioredis';
import { info, parseInfo } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';

export type Path = 'direct' | 'proxied';

export interface Endpoint {
  host: string;
  port: number;
}

/** A relay in a process of its own that replicas can follow instead of the master. */
export interface RelayProcess extends Endpoint {
  readonly pid: number;
  stop(): Promise<void>;
}

/** The master's replication offset (`ROLE` → `master <offset> …`). */
export async function masterOffset(master: Redis): Promise<number> {
  const role = (await master.call('ROLE')) as unknown[];
  if (role[0] !== 'master') throw new Error(`expected a master, ROLE says ${String(role[0])}`);
  return Number(role[1]);
}

/** The offset a replica has processed (`ROLE` → `slave host port state <offset>`). */
export async function replicaOffset(replica: Redis): Promise<number> {
  const role = (await replica.call('ROLE')) as unknown[];
  if (role[0] !== 'slave') throw new Error(`expected a replica, ROLE says ${String(role[0])}`);
  return Number(role[4]);
}

/**
 * Why the replica is not yet a caught-up replica of `upstream` (empty when it is): link up, no
 * sync or load in progress, following `upstream`, offset at least the master's offset as read
 * just before.
 */
export async function notCaughtUp(
  master: Redis,
  replica: Redis,
  upstream: Endpoint,
  observe?: (fields: Record<string, string>) => void,
): Promise<string[]> {
  const target = await masterOffset(master);
  const fields = parseInfo(String(await replica.call('INFO', 'replication', 'persistence')));
  observe?.(fields);
  const problems: string[] = [];
  if (fields['role'] !== 'slave') problems.push(`role ${String(fields['role'])}`);
  if (fields['master_port'] !== String(upstream.port)) {
    problems.push(`follows port ${String(fields['master_port'])}`);
  }
  if (fields['master_link_status'] !== 'up') problems.push('link down');
  if (fields['master_sync_in_progress'] !== '0') problems.push('sync in progress');
  if (fields['loading'] !== '0') problems.push('loading');
  const offset = Number(fields['master_repl_offset']);
  if (!(offset >= target)) problems.push(`offset ${offset} < ${target}`);
  return problems;
}

/** Polls {@link notCaughtUp} until the replica is caught up. */
export async function waitCaughtUp(
  master: Redis,
  replica: Redis,
  upstream: Endpoint,
  options: { timeoutMs: number; intervalMs: number; what: string },
): Promise<void> {
  await waitFor(async () => (await notCaughtUp(master, replica, upstream)).length === 0, options);
}

/** `REPLICAOF NO ONE`, then wait until the master has let go of every replica link. */
export async function detach(master: Redis, replica: Redis): Promise<void> {
  await replica.replicaof('NO', 'ONE');
  await waitFor(async () => (await info(master, 'replication'))['connected_slaves'] === '0', {
    what: 'the master to drop its replica links',
    timeoutMs: 30_000,
  });
}

/**
 * `REPLICAOF host port`, insisting on a new link: "+OK Already connected…" would mean someone
 * else (the proxy's failover engine, say) pointed the replica first, and the timing is wrong.
 */
export async function pointAt(replica: Redis, upstream: Endpoint): Promise<void> {
  const reply = await replica.replicaof(upstream.host, upstream.port);
  if (reply !== 'OK') {
    throw new Error(`REPLICAOF ${upstream.host} ${upstream.port} answered ${String(reply)}`);
  }
}

/**
 * Points the replica at `upstream` unless it already follows it (ABBA order runs the same path
 * twice in a row), then waits until it has caught up.
 */
export async function attach(
  master: Redis,
  replica: Redis,
  upstream: Endpoint,
  what: string,
): Promise<void> {
  const current = await info(replica, 'replication');
  const follows =
    current['role'] === 'slave' &&
    current['master_host'] === upstream.host &&
    current['master_port'] === String(upstream.port);
  if (!follows) await pointAt(replica, upstream);
  await waitCaughtUp(master, replica, upstream, { what, timeoutMs: 60_000, intervalMs: 10 });
}
