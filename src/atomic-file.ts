// Durable writes into --state-dir (state.json, the outbox entries, the lock): the bytes go to a
// temp file beside the target and are fsynced before the target name points at them, so a crash
// leaves either the old file or the new one, never a torn one. A write that fails at any step
// (disk full, a read-only or vanished directory, a directory where the target should be) removes
// its temp file: retried writes must not fill the disk they already found full.
import { randomUUID } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorCode } from './errors.js';

/** Temp files end in `.tmp`; a reader skips (or removes) them. */
export const TEMP_SUFFIX = '.tmp';

function tempPath(file: string): string {
  // Unique per write: two writes of one file (two stores, two processes) never share a temp file.
  return `${file}.${process.pid}.${randomUUID().slice(0, 8)}${TEMP_SUFFIX}`;
}

async function removeQuietly(path: string): Promise<void> {
  // Best effort: the write has already failed, and that failure is the one to report.
  await unlink(path).catch(() => undefined);
}

/** Writes `data` to a new fsynced temp file beside `file` and returns its path. */
async function writeTemp(file: string, data: string, mode: number): Promise<string> {
  const temp = tempPath(file);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await removeQuietly(temp);
    throw error;
  }
  return temp;
}

/** fsync of a directory: a rename, link or unlink in it is durable only once this returns. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `file` with `data` atomically and durably; on failure no temp file is left. */
export async function replaceFile(file: string, data: string, mode = 0o600): Promise<void> {
  const temp = await writeTemp(file, data, mode);
  try {
    await rename(temp, file);
  } catch (error) {
    await removeQuietly(temp);
    throw error;
  }
  await fsyncDir(dirname(file));
}

/**
 * Creates `file` holding `data` only if no file of that name exists (false if one does). The
 * bytes are complete before the name appears — link(2) fails with EEXIST like O_EXCL — so a
 * reader never sees the file half written.
 */
export async function createFileExclusive(
  file: string,
  data: string,
  mode = 0o600,
): Promise<boolean> {
  const temp = await writeTemp(file, data, mode);
  try {
    await link(temp, file);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await removeQuietly(temp);
  }
  await fsyncDir(dirname(file));
  return true;
}
