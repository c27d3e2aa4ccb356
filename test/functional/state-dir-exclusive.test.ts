// One rbuddy per --state-dir: two on one state would both act on the same replicas. A second
// `rbuddy` CLI on the dir of a running one exits 1 with one line naming the dir and the holder's
// pid, and the first goes on untouched; a lock left by a process killed with kill -9, or naming a
// pid that now belongs to another process, is taken over (and the takeover logged); a clean exit
// removes the lock; a process whose lock was taken stops and exits 1. Real redis-server and real
// CLI processes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE, linuxProcesses, type LockOwner } from '../../src/standby/state-dir-lock.js';
import { freePort, killHard, runNode, terminate } from '../../harness/processes.js';
import {
  cliArgs,
  cliStatus,
  spawnHealthy,
  type RbuddyProcess,
} from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { failoverTimings } from '../helpers/topology.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const spawned = new Set<RbuddyProcess>();
const stateDirs: string[] = [];

after(async () => {
  await Promise.all([...spawned].map((rbuddy) => terminate(rbuddy.child)));
  await stopAllRedis();
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

/** Three servers and the arguments of an rbuddy for them, on a port kept across restarts. */
async function setUp(): Promise<{ stateDir: string; args: string[] }> {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-lock-state-'));
  stateDirs.push(stateDir);
  const listen = `127.0.0.1:${await freePort()}`;
  const args = cliArgs({ master, active, standby }, { listen, stateDir, extra: failoverTimings() });
  return { stateDir, args };
}

async function start(args: string[]): Promise<RbuddyProcess> {
  const rbuddy = await spawnHealthy(args);
  spawned.add(rbuddy);
  return rbuddy;
}

async function lockOwner(stateDir: string): Promise<LockOwner> {
  return JSON.parse(await readFile(join(stateDir, LOCK_FILE), 'utf8')) as LockOwner;
}

function takeovers(rbuddy: RbuddyProcess): Array<Record<string, unknown>> {
  return rbuddy
    .logs()
    .filter((line) => String(line.msg).startsWith('taking over the state dir lock'));
}

test('a second rbuddy on the same state dir exits 1 with one line; the first keeps running', async () => {
  const { stateDir, args } = await setUp();
  const first = await start(args);
  const pid = first.child.pid;
  assert.ok(pid !== undefined);

  // Its own listen port: the state dir is the only thing the two share.
  const own = args.map((arg, index) => (args[index - 1] === '--listen' ? '127.0.0.1:0' : arg));
  const second = await runNode(['--import', 'tsx', 'src/cli.ts', ...own], {
    cwd: ROOT,
    timeoutMs: 30_000,
  });
  assert.equal(second.signal, null, second.stderr);
  assert.equal(second.code, 1, second.stderr);
  const lines = second.stderr.split('\n');
  assert.equal(lines.length, 2, `one line plus its newline: ${JSON.stringify(second.stderr)}`);
  assert.match(lines[0] ?? '', /^rbuddy: /);
  assert.ok(second.stderr.includes(stateDir), second.stderr);
  assert.ok(second.stderr.includes(`pid ${pid}`), second.stderr);
  assert.ok(
    !second.stdout.includes('RESP listener ready'),
    'the second never opened its listeners',
  );

  assert.equal(first.child.exitCode, null, 'the first still runs');
  assert.equal((await cliStatus(first)).state, 'healthy');
  assert.equal((await lockOwner(stateDir)).pid, pid);

  // A clean exit removes the lock: the next start takes it without a takeover.
  await terminate(first.child);
  assert.equal(first.child.exitCode, 0);
  spawned.delete(first);
  await assert.rejects(readFile(join(stateDir, LOCK_FILE)), { code: 'ENOENT' });
  const next = await start(args);
  assert.deepEqual(takeovers(next), []);
  await terminate(next.child);
  spawned.delete(next);
});

test('the lock of a process killed with kill -9, or of a reused pid, is taken over', async () => {
  const { stateDir, args } = await setUp();
  const first = await start(args);
  const firstPid = first.child.pid;
  await killHard(first.child);
  spawned.delete(first);
  assert.equal((await lockOwner(stateDir)).pid, firstPid, 'kill -9 left its lock behind');

  const second = await start(args);
  const [takeover] = takeovers(second);
  assert.equal((takeover?.holder as LockOwner | undefined)?.pid, firstPid);
  assert.equal((await lockOwner(stateDir)).pid, second.child.pid);
  await killHard(second.child);
  spawned.delete(second);

  // A lock naming a pid that runs, but is another process: this test runner's own pid, with a
  // start time other than its own (what pid 1 in a restarted container looks like).
  const self = linuxProcesses.self();
  const reused: LockOwner = {
    ...self,
    startTicks: (self.startTicks ?? 1) - 1,
    token: 'a-process-long-gone',
    since: '2026-01-01T00:00:00.000Z',
  };
  await writeFile(join(stateDir, LOCK_FILE), JSON.stringify(reused));
  const third = await start(args);
  const [reuse] = takeovers(third);
  assert.equal((reuse?.holder as LockOwner | undefined)?.pid, process.pid);
  assert.match(String(reuse?.why), /started later/);
  assert.equal((await lockOwner(stateDir)).pid, third.child.pid);
});

test('an rbuddy whose lock is taken by another stops acting and exits 1', async () => {
  const { stateDir, args } = await setUp();
  const rbuddy = await start(args);
  const other: LockOwner = {
    pid: 999_999,
    host: 'another-host',
    bootId: null,
    pidNamespace: null,
    startTicks: null,
    token: 'someone-else',
    since: '2026-01-01T00:00:00.000Z',
  };
  await writeFile(join(stateDir, LOCK_FILE), JSON.stringify(other));
  assert.equal(await rbuddy.exit(), 1);
  spawned.delete(rbuddy);
  const fatal = rbuddy.logs().find((line) => line.level === 'fatal');
  assert.equal(
    (fatal?.err as { code?: string } | undefined)?.code,
    'RBUDDY_ERR_STATE_DIR_LOCK_LOST',
  );
  assert.equal((await lockOwner(stateDir)).token, 'someone-else', "the other's lock is left alone");
});
