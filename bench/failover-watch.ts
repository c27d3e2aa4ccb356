// What a replica says about itself while the failover figures run: INFO polled every 20 ms, kept
// as a list of changes. It corroborates the reader (a replica answering -LOADING shows
// `loading:1`) and dates the steps the reader cannot see (the standby's sync completing).
import type { Redis } from 'ioredis';
import { parseInfo } from '../harness/replication.js';

export interface NodeSnapshot {
  /** Epoch ms of the reply. */
  at: number;
  role: string;
  link: string;
  syncing: boolean;
  loading: boolean;
  asyncLoading: boolean;
  /** Keys over every db, as INFO keyspace counts them. */
  keys: number;
  /** Set when INFO itself failed. */
  error?: string;
}

export interface NodeWatch {
  /** Stops polling; resolves with the snapshots at which something changed (and the last). */
  stop(): Promise<NodeSnapshot[]>;
  /** The latest snapshot. */
  readonly last: NodeSnapshot | undefined;
}

const POLL_MS = 20;

export function watchNode(client: Redis): NodeWatch {
  const changes: NodeSnapshot[] = [];
  let last: NodeSnapshot | undefined;
  let active = true;
  const loop = (async () => {
    while (active) {
      const snapshot = await snapshotOf(client);
      if (last === undefined || signature(last) !== signature(snapshot)) changes.push(snapshot);
      last = snapshot;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  })();
  return {
    get last() {
      return last;
    },
    async stop() {
      active = false;
      await loop;
      if (last !== undefined && changes.at(-1) !== last) changes.push(last);
      return changes;
    },
  };
}

async function snapshotOf(client: Redis): Promise<NodeSnapshot> {
  const at = Date.now();
  try {
    const fields = parseInfo(
      String(await client.call('INFO', 'replication', 'persistence', 'keyspace')),
    );
    let keys = 0;
    for (const [name, value] of Object.entries(fields)) {
      if (/^db\d+$/.test(name)) keys += Number(/keys=(\d+)/.exec(value)?.[1] ?? 0);
    }
    return {
      at: Date.now(),
      role: fields['role'] ?? '?',
      link: fields['master_link_status'] ?? '-',
      syncing: fields['master_sync_in_progress'] === '1',
      loading: fields['loading'] === '1',
      asyncLoading: fields['async_loading'] === '1',
      keys,
    };
  } catch (error) {
    return {
      at,
      role: '?',
      link: '?',
      syncing: false,
      loading: false,
      asyncLoading: false,
      keys: 0,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

function signature(s: NodeSnapshot): string {
  // Key counts change all the time while loading; only "has keys or not" is a phase.
  return [s.role, s.link, s.syncing, s.loading, s.asyncLoading, s.keys > 0, s.error ?? ''].join();
}

export interface Phases {
  /** ms after `from` (the kill): the first snapshot showing a sync in progress. */
  syncStartMs: number | null;
  /** ms after `from`: loading:1 first seen, and last seen. */
  loadingStartMs: number | null;
  loadingEndMs: number | null;
  /** ms after `from`: link up again, no sync, no load (the first such snapshot after the
   * link went down). */
  syncedMs: number | null;
  /** Time INFO showed the node loading, empty, or not answering: without a usable dataset. */
  withoutDatasetMs: number;
  asyncLoadingSeen: boolean;
  /** `+1.23 s link down, syncing` … for the details. */
  story: string;
}

/** The phases in `changes` from `from` (epoch ms) on, up to `until`. */
export function phasesOf(changes: readonly NodeSnapshot[], from: number, until: number): Phases {
  const relevant = changes.filter((s) => s.at >= from && s.at <= until);
  // The state in force at `from` is the last change before it.
  const before = changes.filter((s) => s.at < from).at(-1);
  const timeline = before === undefined ? relevant : [{ ...before, at: from }, ...relevant];
  let syncStartMs: number | null = null;
  let loadingStartMs: number | null = null;
  let loadingEndMs: number | null = null;
  let syncedMs: number | null = null;
  let linkWentDown = false;
  let withoutDatasetMs = 0;
  let asyncLoadingSeen = false;
  timeline.forEach((s, i) => {
    const next = timeline[i + 1];
    const end = next === undefined ? until : next.at;
    const relative = s.at - from;
    if (s.syncing && syncStartMs === null) syncStartMs = relative;
    if (s.loading) {
      if (loadingStartMs === null) loadingStartMs = relative;
      loadingEndMs = end - from;
    }
    if (s.asyncLoading) asyncLoadingSeen = true;
    if (s.role === 'slave' && s.link !== 'up') linkWentDown = true;
    const synced = s.role === 'slave' && s.link === 'up' && !s.syncing && !s.loading;
    if (synced && linkWentDown && syncedMs === null) syncedMs = relative;
    if (s.loading || s.keys === 0 || s.error !== undefined) withoutDatasetMs += end - s.at;
  });
  const story = timeline
    .map((s) => {
      const what =
        s.error !== undefined
          ? `INFO failed (${s.error.slice(0, 40)})`
          : [
              s.role === 'slave' ? `link ${s.link}` : s.role,
              ...(s.syncing ? ['syncing'] : []),
              ...(s.loading ? ['loading'] : []),
              ...(s.asyncLoading ? ['async loading'] : []),
              s.keys > 0 ? 'has keys' : 'empty',
            ].join(', ');
      return `+${((s.at - from) / 1000).toFixed(2)} s ${what}`;
    })
    .join('; ');
  return {
    syncStartMs,
    loadingStartMs,
    loadingEndMs,
    syncedMs,
    withoutDatasetMs,
    asyncLoadingSeen,
    story,
  };
}
