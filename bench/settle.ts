// Quiet before each full sync. A disk-mode sync ends with the master fsyncing a 1 GB RDB and the
// replica fsyncing the copy it received (rdbSaveRio and readSyncBulkPayload), so a run that
// starts while the previous one's pages are still being written back competes with them for the
// disk. Waiting for the kernel's dirty and writeback pages to drain gives every run, direct or
// proxied, the same starting point, however long the run before it took to tear down.
import { readFileSync } from 'node:fs';
import { waitFor } from '../harness/wait-for.js';

const QUIET_BYTES = 32 * 1024 * 1024;

/** Dirty + Writeback from /proc/meminfo, in bytes (machine-wide). */
export function unwrittenBytes(): number {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(meminfo)?.[1] ?? 0) * 1024;
  return field('Dirty') + field('Writeback');
}

/**
 * Waits until less than 32 MiB is waiting to be written to disk; resolves with the ms waited.
 * Gives up quietly after `timeoutMs` (another tenant may keep the disk busy for ever).
 */
export async function settleDisk(timeoutMs = 30_000): Promise<number> {
  const start = performance.now();
  try {
    await waitFor(() => unwrittenBytes() < QUIET_BYTES, {
      what: 'dirty pages to be written back',
      timeoutMs,
      intervalMs: 100,
    });
  } catch {
    // Measured anyway; the wait shows in the run's record.
  }
  return performance.now() - start;
}
