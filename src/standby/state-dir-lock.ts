// One rbuddy per --state-dir: two processes on one state would both act on the same replicas
// (two failovers, two flushes). The lock is a file, `rbuddy.lock`, created exclusively (it
// appears whole or not at all) and holding its owner: pid, host, the kernel's boot id, the pid
// namespace, the process's start time and a token unique to this acquisition.
//
// A process killed with kill -9 cannot remove its lock, so a lock is taken over when its owner
// is gone, decided in one of two ways:
//   * same boot and same pid namespace (the usual case): the pid must exist AND have the
//     recorded start time — a pid reused by another process (pid 1 in every container) does not
//     count as the owner;
//   * otherwise (another host or container sharing the volume): a pid means nothing here, so the
//     owner must show that it lives by renewing the lock's mtime every RENEW_MS; a lock unchanged
//     for LEASE_MS, by this process's own clock, is stale.
// Two processes racing to take over one stale lock are serialised by a marker file named after
// that lock's token, created exclusively: only its creator may remove the stale lock, after
// checking that it is still the one it judged. Everyone else starts over and finds the new owner.
//
// The owner renews the lock while it runs and checks that the file still holds its token; if it
// does not (a frozen process whose lease ran out and was taken over), it reports the loss so the
// process stops acting. A clean shutdown removes the lock.
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createFileExclusive, fsyncDir } from '../atomic-file.js';
import {
  errorCode,
  StateDirAccessError,
  StateDirLockedError,
  StateDirLockLostError,
} from '../errors.js';

export const LOCK_FILE = 'rbuddy.lock';

/** Who holds the lock, as written in the file. */
export interface LockOwner {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id; null where there is no /proc. */
  bootId: string | null;
  /** The pid namespace (`pid:[4026531836]`): a pid is only meaningful inside it. */
  pidNamespace: string | null;
  /** Start time in clock ticks after boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  startTicks: number | null;
  token: string;
  since: string;
}

/** What the lock needs to know about processes; tests replace it. */
export interface ProcessTable {
  /** This process, as it would write itself into a lock. */
  self(): Omit<LockOwner, 'token' | 'since'>;
  /** Whether a process with this pid exists in this pid namespace. */
  exists(pid: number): Promise<boolean>;
  /** The start time of a pid in this namespace, or null if unknown. */
  startTicks(pid: number): Promise<number | null>;
}

export interface LockOptions {
  logger: Logger;
  /** Called once if the lock is taken or removed by someone else while this process holds it. */
  onLost?: (error: StateDirLockLostError) => void;
  processes?: ProcessTable;
  renewMs?: number;
  leaseMs?: number;
}

const RENEW_MS = 1_000;
const LEASE_MS = 10_000;
/** Rounds of create / judge / take over before giving up: the lock keeps changing hands. */
const MAX_ROUNDS = 20;
const POLL_MS = 50;

type Verdict =
  | { kind: 'alive'; how: string }
  | { kind: 'dead'; why: string }
  | { kind: 'unknown' }
  /** The lock changed hands while it was being judged: start over. */
  | { kind: 'changed' };

interface Observed {
  owner: LockOwner;
  mtimeMs: number;
}

export class StateDirLock {
  readonly file: string;
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  private released = false;

  private constructor(
    readonly dir: string,
    readonly owner: LockOwner,
    private readonly options: Required<Omit<LockOptions, 'onLost'>> & Pick<LockOptions, 'onLost'>,
  ) {
    this.file = join(dir, LOCK_FILE);
  }

  /** Takes the lock, taking over a stale one; throws StateDirLockedError if another owner lives. */
  static async acquire(dir: string, options: LockOptions): Promise<StateDirLock> {
    const processes = options.processes ?? linuxProcesses;
    const owner: LockOwner = {
      ...processes.self(),
      token: randomUUID(),
      since: new Date().toISOString(),
    };
    const lock = new StateDirLock(dir, owner, {
      renewMs: RENEW_MS,
      leaseMs: LEASE_MS,
      ...options,
      processes,
    });
    await accessible(dir, () => mkdir(dir, { recursive: true }));
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const created = await accessible(dir, () =>
        createFileExclusive(lock.file, JSON.stringify(owner)),
      );
      if (created) {
        lock.log.info({ file: lock.file }, 'state dir locked');
        lock.startRenewing();
        return lock;
      }
      const held = await lock.observe(lock.file);
      if (held === undefined) continue; // released meanwhile: try again
      const verdict = await lock.judge(held);
      if (verdict.kind === 'alive') throw lockedError(dir, held.owner, verdict.how);
      if (verdict.kind === 'dead') await lock.takeOver(held, verdict.why);
    }
    throw new StateDirLockedError(
      `state dir ${dir} is locked by processes that keep changing; try again`,
    );
  }

  /** Stops renewing and removes the lock file if it is still ours. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    const held = await this.observe(this.file).catch(() => undefined);
    if (held?.owner.token !== this.owner.token) return;
    await unlink(this.file).catch(() => undefined);
    this.log.info({ file: this.file }, 'state dir lock released');
  }

  private get log(): Logger {
    return this.options.logger;
  }

  /** The lock file's owner, undefined if there is no file; throws if it cannot be trusted. */
  private async observe(file: string): Promise<Observed | undefined> {
    let text: string;
    let mtimeMs: number;
    try {
      [text, { mtimeMs }] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const owner = parseOwner(text);
    if (owner === undefined) {
      // Written whole or not at all (createFileExclusive): this one was edited or damaged, and
      // nothing tells whose it is. Guessing either way could start a second rbuddy.
      throw new StateDirLockedError(
        `the lock file ${file} is unreadable; if no rbuddy uses ${this.dir}, remove it and start again`,
      );
    }
    return { owner, mtimeMs };
  }

  private async judge(held: Observed): Promise<Verdict> {
    const verdict = await judgeByPid(held.owner, this.options.processes);
    if (verdict.kind !== 'unknown') return verdict;
    // Another host or pid namespace: wait for a renewal, or for the lease to run out.
    this.log.info(
      { holder: held.owner, leaseMs: this.options.leaseMs },
      'state dir lock held from another host or pid namespace: waiting for it to renew',
    );
    const deadline = Date.now() + this.options.leaseMs;
    while (Date.now() < deadline) {
      await sleep(POLL_MS);
      const now = await this.observe(this.file);
      if (now?.owner.token !== held.owner.token) return { kind: 'changed' };
      if (now.mtimeMs !== held.mtimeMs) return { kind: 'alive', how: 'it renews its lock' };
    }
    return { kind: 'dead', why: `not renewed for ${this.options.leaseMs} ms` };
  }

  private async takeOver(stale: Observed, why: string): Promise<void> {
    const marker = `${this.file}.takeover-${stale.owner.token.replace(/[^A-Za-z0-9-]/g, '')}`;
    if (!(await createFileExclusive(marker, JSON.stringify(this.owner)))) {
      await this.clearAbandonedMarker(marker);
      return;
    }
    try {
      // Only the marker's creator gets here, and only it removes this stale lock: checked once
      // more, so that a lock someone else created meanwhile is never removed.
      const now = await this.observe(this.file);
      if (now?.owner.token === stale.owner.token) {
        await unlink(this.file);
        await fsyncDir(this.dir);
        this.log.warn(
          { file: this.file, holder: stale.owner, why },
          `taking over the state dir lock of pid ${stale.owner.pid}, which is gone (${why})`,
        );
      }
    } finally {
      await unlink(marker).catch(() => undefined);
    }
  }

  /**
   * Another process is taking over the same stale lock: wait for it. A marker whose creator died
   * in the few milliseconds of a takeover would block every start, so one whose creator is gone
   * (same rules as the lock) or that is older than the lease is removed. Two processes removing
   * the same abandoned marker at once could both go on to the takeover; that needs a crash inside
   * a takeover and then two simultaneous starts, and is left at that.
   */
  private async clearAbandonedMarker(marker: string): Promise<void> {
    const held = await this.observe(marker).catch(() => undefined);
    if (held === undefined) return;
    const verdict = await judgeByPid(held.owner, this.options.processes);
    const old = Date.now() - held.mtimeMs > this.options.leaseMs;
    if (verdict.kind === 'dead' || (verdict.kind === 'unknown' && old)) {
      this.log.warn({ marker, holder: held.owner }, 'removing an abandoned lock takeover marker');
      await unlink(marker).catch(() => undefined);
      return;
    }
    await sleep(POLL_MS);
  }

  private startRenewing(): void {
    this.timer = setInterval(() => void this.renew(), this.options.renewMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.released) return;
    this.renewing = true;
    try {
      const held = await this.observe(this.file);
      if (this.released) return;
      if (held?.owner.token === this.owner.token) {
        const now = new Date();
        await utimes(this.file, now, now);
        return;
      }
      this.lost(
        held === undefined
          ? `the lock file ${this.file} was removed`
          : `the lock file ${this.file} now names pid ${held.owner.pid} on ${held.owner.host}`,
      );
    } catch (error) {
      // A failed renewal (disk trouble) is retried at the next tick; a lease elsewhere is long.
      this.log.warn({ err: error, file: this.file }, 'could not renew the state dir lock');
    } finally {
      this.renewing = false;
    }
  }

  private lost(why: string): void {
    this.released = true;
    clearInterval(this.timer);
    const error = new StateDirLockLostError(
      `lost the lock on state dir ${this.dir}: ${why}; another rbuddy may be acting on it`,
    );
    this.log.fatal({ err: error }, error.message);
    this.options.onLost?.(error);
  }
}

/**
 * Runs a first write into the state dir; a permission error becomes one that says who rbuddy runs
 * as and what to change. The usual cause is a host directory bind-mounted into the container: it
 * keeps its owner (often root), and the image runs rbuddy as a non-root user.
 */
async function accessible<T>(dir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw error;
    const uid = process.getuid?.() ?? -1;
    const gid = process.getgid?.() ?? -1;
    const fix =
      code === 'EROFS'
        ? 'mount it read-write'
        : `make it writable by that user, e.g. chown -R ${uid}:${gid} ${dir} (a bind-mounted host directory keeps its owner), or run rbuddy as its owner`;
    throw new StateDirAccessError(
      `cannot write state dir ${dir} (${code}): rbuddy runs as uid ${uid} gid ${gid}; ${fix}`,
      { cause: error },
    );
  }
}

function lockedError(dir: string, owner: LockOwner, how: string): StateDirLockedError {
  return new StateDirLockedError(
    `state dir ${dir} is in use by another rbuddy: pid ${owner.pid} on ${owner.host}, since ${owner.since} (${how}); stop it first or use another --state-dir`,
  );
}

/** Decides from pids alone when the owner shares our boot and pid namespace; else unknown. */
async function judgeByPid(owner: LockOwner, processes: ProcessTable): Promise<Verdict> {
  const self = processes.self();
  const samePidSpace =
    self.bootId !== null || owner.bootId !== null
      ? self.bootId === owner.bootId &&
        self.pidNamespace !== null &&
        self.pidNamespace === owner.pidNamespace
      : // No /proc on either side (not Linux): the host name is all there is.
        self.host === owner.host;
  if (!samePidSpace) return { kind: 'unknown' };
  if (!(await processes.exists(owner.pid))) return { kind: 'dead', why: `no process ${owner.pid}` };
  const ticks = await processes.startTicks(owner.pid);
  if (owner.startTicks !== null && ticks !== null && ticks !== owner.startTicks) {
    return { kind: 'dead', why: `pid ${owner.pid} now belongs to a process started later` };
  }
  return { kind: 'alive', how: 'that process is running' };
}

function parseOwner(text: string): LockOwner | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const owner = value as Partial<LockOwner>;
  const nullableString = (field: unknown): boolean => field === null || typeof field === 'string';
  if (
    !Number.isSafeInteger(owner.pid) ||
    typeof owner.host !== 'string' ||
    typeof owner.token !== 'string' ||
    typeof owner.since !== 'string' ||
    !nullableString(owner.bootId) ||
    !nullableString(owner.pidNamespace) ||
    !(owner.startTicks === null || Number.isSafeInteger(owner.startTicks))
  ) {
    return undefined;
  }
  return owner as LockOwner;
}

function readOrNull(read: () => string): string | null {
  try {
    return read().trim();
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
function procStartTicks(pid: number): number | null {
  const stat = readOrNull(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return stat === null ? null : startTicksOf(stat);
}

function startTicksOf(stat: string): number | null {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) ? ticks : null;
}

export const linuxProcesses: ProcessTable = {
  self: () => ({
    pid: process.pid,
    host: hostname(),
    bootId: readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidNamespace: readOrNull(() => readlinkSync('/proc/self/ns/pid')),
    startTicks: procStartTicks(process.pid),
  }),
  exists(pid) {
    try {
      process.kill(pid, 0);
      return Promise.resolve(true);
    } catch (error) {
      // EPERM: it exists, it is just not ours to signal.
      return Promise.resolve(errorCode(error) === 'EPERM');
    }
  },
  async startTicks(pid) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    return stat === null ? null : startTicksOf(stat);
  },
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
