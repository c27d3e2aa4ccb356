// StateDirLock (--state-dir/rbuddy.lock): one rbuddy per state dir. A live owner keeps it; an
// owner that died (kill -9 leaves its lock behind) loses it — including when its pid was reused
// by another process, and when it lived in another pid namespace and stopped renewing; of many
// processes racing for one stale lock exactly one wins; an owner whose lock is taken learns it.
// Processes are a fake table (which pids exist, their start times), the files are real.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import type { StateDirLockLostError } from '../../src/errors.js';
import {
  LOCK_FILE,
  StateDirLock,
  linuxProcesses,
  type LockOwner,
  type ProcessTable,
} from '../../src/standby/state-dir-lock.js';
import { waitFor } from '../../harness/wait-for.js';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
const held: StateDirLock[] = [];

afterEach(async () => {
  await Promise.all(held.splice(0).map((lock) => lock.release()));
});
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-lock-test-'));
  dirs.push(dir);
  return dir;
}

/** One machine's process table: the pids that run, with their start times. */
class FakeMachine {
  readonly running = new Map<number, number>();
  constructor(
    readonly bootId = 'boot-1',
    readonly pidNamespace = 'pid:[4026531836]',
  ) {}

  start(pid: number, startTicks: number): void {
    this.running.set(pid, startTicks);
  }

  /**
   * What process `pid` of this machine sees. `beforeAnswer` runs before it learns whether a pid
   * exists: a test holds a process there, between reading a lock and judging it.
   */
  process(pid: number, host = 'host-a', beforeAnswer?: () => Promise<void>): ProcessTable {
    return {
      self: () => ({
        pid,
        host,
        bootId: this.bootId,
        pidNamespace: this.pidNamespace,
        startTicks: this.running.get(pid) ?? null,
      }),
      exists: async (other) => {
        await beforeAnswer?.();
        return this.running.has(other);
      },
      startTicks: (other) => Promise.resolve(this.running.get(other) ?? null),
    };
  }
}

async function acquire(
  dir: string,
  processes: ProcessTable,
  extra: Partial<Parameters<typeof StateDirLock.acquire>[1]> = {},
): Promise<StateDirLock> {
  const lock = await StateDirLock.acquire(dir, { logger: silent, processes, ...extra });
  held.push(lock);
  return lock;
}

function owner(fields: Partial<LockOwner>): LockOwner {
  return {
    pid: 4242,
    host: 'host-a',
    bootId: 'boot-1',
    pidNamespace: 'pid:[4026531836]',
    startTicks: 1000,
    token: '0b7e1b52-0000-4000-8000-00000000dead',
    since: '2026-03-01T12:00:00.000Z',
    ...fields,
  };
}

async function lockOnDisk(dir: string): Promise<LockOwner> {
  return JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as LockOwner;
}

async function rejectsLocked(promise: Promise<unknown>, ...mentions: string[]): Promise<void> {
  await assert.rejects(promise, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'RBUDDY_ERR_STATE_DIR_LOCKED');
    for (const text of mentions) assert.ok(error.message.includes(text), error.message);
    return true;
  });
}

describe('StateDirLock', () => {
  test('the first process takes it; a second one is refused, naming the dir and the pid', async () => {
    const dir = join(await tempDir(), 'state');
    const machine = new FakeMachine();
    machine.start(100, 5000);
    machine.start(200, 6000);
    const first = await acquire(dir, machine.process(100));
    assert.equal((await lockOnDisk(dir)).pid, 100);
    await rejectsLocked(acquire(dir, machine.process(200)), dir, 'pid 100');
    // The refused one changed nothing.
    assert.equal((await lockOnDisk(dir)).token, first.owner.token);

    await first.release();
    assert.deepEqual(await readdir(dir), [], 'a clean exit removes the lock');
    const second = await acquire(dir, machine.process(200));
    assert.equal((await lockOnDisk(dir)).token, second.owner.token);
  });

  test('two acquisitions in one process (two apps on one dir) are refused too', async () => {
    const dir = await tempDir();
    await acquire(dir, linuxProcesses);
    await rejectsLocked(acquire(dir, linuxProcesses), `pid ${process.pid}`);
  });

  test('a lock whose pid no longer exists (kill -9) is taken over, and the takeover logged', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, LOCK_FILE), JSON.stringify(owner({ pid: 4242 })));
    const machine = new FakeMachine();
    machine.start(300, 9000);
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const lock = await acquire(dir, machine.process(300), { logger });
    assert.equal((await lockOnDisk(dir)).token, lock.owner.token);
    const takeover = lines.find((line) => String(line.msg).startsWith('taking over'));
    assert.ok(takeover !== undefined, JSON.stringify(lines));
    assert.equal((takeover.holder as LockOwner).pid, 4242);
    assert.match(String(takeover.why), /no process 4242/);
    assert.deepEqual(await readdir(dir), [LOCK_FILE], 'no takeover marker left');
  });

  test('a pid reused by a later process (pid 1 in every container) does not hold the lock', async () => {
    const dir = await tempDir();
    // The dead owner was pid 1 started at tick 1000; pid 1 now is a process started at 7000.
    await writeFile(join(dir, LOCK_FILE), JSON.stringify(owner({ pid: 1, startTicks: 1000 })));
    const machine = new FakeMachine();
    machine.start(1, 7000);
    const lock = await acquire(dir, machine.process(1));
    assert.equal((await lockOnDisk(dir)).token, lock.owner.token);
  });

  test('the real process table: this process exists with its start time; a pid past pid_max does not', async () => {
    const self = linuxProcesses.self();
    assert.equal(self.pid, process.pid);
    assert.ok(await linuxProcesses.exists(process.pid));
    if (self.startTicks !== null) {
      assert.equal(await linuxProcesses.startTicks(process.pid), self.startTicks);
    }
    assert.equal(await linuxProcesses.exists(2 ** 22 + 12345), false, 'beyond pid_max');
  });

  test('one that judged the lock stale just before another took it over leaves the new lock alone', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, LOCK_FILE), JSON.stringify(owner({ pid: 4242 })));
    const machine = new FakeMachine();
    machine.start(600, 1);
    machine.start(700, 2);
    // B reads the dead owner's lock, then is held until A has taken the lock over entirely.
    let aDone: () => void = () => undefined;
    const aHolds = new Promise<void>((resolve) => (aDone = resolve));
    let held = false;
    let bJudging: () => void = () => undefined;
    const bHeld = new Promise<void>((resolve) => (bJudging = resolve));
    const b = acquire(
      dir,
      machine.process(700, 'host-a', async () => {
        if (held) return;
        held = true;
        bJudging();
        await aHolds;
      }),
    );
    // A starts only once B has read the stale lock and is judging it: started together, A could
    // remove the stale lock while B was still reading it, and B (finding no lock) would simply
    // create its own first — a fair win, not the race this test is about (seen once under load).
    await bHeld;
    const a = await acquire(dir, machine.process(600));
    aDone();
    await rejectsLocked(b, 'pid 600');
    assert.equal((await lockOnDisk(dir)).token, a.owner.token, "A's lock is still there");
  });

  test('many processes racing for one stale lock: exactly one gets it, the others are refused', async () => {
    for (let round = 0; round < 5; round += 1) {
      const dir = await tempDir();
      await writeFile(join(dir, LOCK_FILE), JSON.stringify(owner({ pid: 4242 })));
      const machine = new FakeMachine();
      const pids = Array.from({ length: 8 }, (_, index) => 500 + index);
      for (const pid of pids) machine.start(pid, pid * 10);
      // All of them read the dead owner's lock before any of them judges it: the worst start.
      let arrived = 0;
      let allArrived: () => void = () => undefined;
      const barrier = new Promise<void>((resolve) => (allArrived = resolve));
      const results = await Promise.allSettled(
        pids.map((pid) => {
          let first = true;
          return acquire(
            dir,
            machine.process(pid, 'host-a', async () => {
              if (!first) return;
              first = false;
              arrived += 1;
              if (arrived === pids.length) allArrived();
              await barrier;
            }),
          );
        }),
      );
      const winners = results.filter((result) => result.status === 'fulfilled');
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      for (const result of results) {
        if (result.status === 'rejected') {
          assert.equal((result.reason as { code?: string }).code, 'RBUDDY_ERR_STATE_DIR_LOCKED');
        }
      }
      const winner = winners[0];
      assert.ok(winner?.status === 'fulfilled');
      assert.equal((await lockOnDisk(dir)).token, winner.value.owner.token);
      assert.deepEqual(await readdir(dir), [LOCK_FILE], 'no takeover marker left');
    }
  });

  test('another pid namespace: a live owner renews and keeps it; a dead one is taken over after the lease', async () => {
    const dir = await tempDir();
    // Two containers sharing the volume: same kernel, each with its own pid 1.
    const containerA = new FakeMachine('boot-1', 'pid:[4026532001]');
    const containerB = new FakeMachine('boot-1', 'pid:[4026532002]');
    containerA.start(1, 100);
    containerB.start(1, 200);
    const timing = { renewMs: 20, leaseMs: 300 };
    const owner1 = await acquire(dir, containerA.process(1, 'pod-a'), timing);
    // Pid 1 exists in B too, but it is not A's pid 1: only renewals count, and A renews.
    await rejectsLocked(acquire(dir, containerB.process(1, 'pod-b'), timing), 'pid 1 on pod-a');

    // A dies without releasing (kill -9 of its container): no more renewals.
    held.splice(held.indexOf(owner1), 1);
    await stopRenewingWithoutRelease(owner1, dir);
    const owner2 = await acquire(dir, containerB.process(1, 'pod-b'), timing);
    assert.equal((await lockOnDisk(dir)).token, owner2.owner.token);
  });

  test('an owner whose lock is taken away is told so, once, and stops renewing', async () => {
    const dir = await tempDir();
    const machine = new FakeMachine();
    machine.start(100, 1);
    const lost: StateDirLockLostError[] = [];
    const lock = await acquire(dir, machine.process(100), {
      renewMs: 10,
      onLost: (error) => lost.push(error),
    });
    await writeFile(join(dir, LOCK_FILE), JSON.stringify(owner({ pid: 777, host: 'elsewhere' })));
    await waitFor(() => lost.length > 0, { what: 'the loss reported', timeoutMs: 5_000 });
    assert.equal(lost[0]?.code, 'RBUDDY_ERR_STATE_DIR_LOCK_LOST');
    assert.match(lost[0]?.message ?? '', /pid 777 on elsewhere/);
    // Releasing a lock that is no longer ours leaves the other owner's file alone.
    await lock.release();
    assert.equal((await lockOnDisk(dir)).pid, 777);
    assert.equal(lost.length, 1);
  });

  test('an unreadable lock file is not guessed at: refused, naming the file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, LOCK_FILE), '{"pid": 12');
    const machine = new FakeMachine();
    machine.start(100, 1);
    await rejectsLocked(acquire(dir, machine.process(100)), join(dir, LOCK_FILE), 'remove it');
  });

  test('a takeover marker left by a contender that died mid-takeover does not block', async () => {
    const dir = await tempDir();
    const stale = owner({ pid: 4242 });
    await writeFile(join(dir, LOCK_FILE), JSON.stringify(stale));
    await writeFile(
      join(dir, `${LOCK_FILE}.takeover-${stale.token}`),
      JSON.stringify(owner({ pid: 4343, token: 'dead-contender' })),
    );
    const machine = new FakeMachine();
    machine.start(100, 1);
    const lock = await acquire(dir, machine.process(100));
    assert.equal((await lockOnDisk(dir)).token, lock.owner.token);
    assert.deepEqual(await readdir(dir), [LOCK_FILE]);
  });
});

/**
 * What kill -9 does to an owner: it stops renewing and never releases. release() would remove
 * the file, so the file is put back as it was, and its mtime stays as the dead owner left it.
 */
async function stopRenewingWithoutRelease(lock: StateDirLock, dir: string): Promise<void> {
  const text = await readFile(join(dir, LOCK_FILE), 'utf8');
  await lock.release();
  await writeFile(join(dir, LOCK_FILE), text);
}
