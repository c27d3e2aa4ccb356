// Child processes for the functional tests, the bench and the demo (redis-server, the rbuddy CLI):
// ephemeral ports, stopping by the PID we spawned and nothing else, and a last-resort kill so that
// a crashed or interrupted run leaves no process behind to hold ports and memory on a shared
// machine.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A port that was free a moment ago: bind 127.0.0.1:0, read the port the kernel chose, close.
 * Someone else may take it before the caller binds it (another test's outgoing connection can use
 * the same ephemeral range), so callers must be ready to retry with a fresh port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Whether a TCP port on 127.0.0.1 can be bound right now (a killed process's port, say). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether a process with this PID exists (signal 0 checks without delivering anything). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means it exists but belongs to someone else: alive, just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the child has exited (or was killed by a signal) and its exit has been observed. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has exited; `true` if it did within `timeoutMs`, else `false`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/**
 * SIGTERM, then SIGKILL if the child has not exited after `graceMs`. A SIGSTOPped child cannot
 * act on SIGTERM, so it is sent SIGCONT first. Only ever signals this child's own PID.
 */
export async function terminate(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  if (await waitForExit(child, graceMs)) return;
  child.kill('SIGKILL');
  if (!(await waitForExit(child, graceMs))) {
    throw new Error(`process ${String(child.pid)} did not exit after SIGKILL`);
  }
}

/** SIGKILL and wait for the exit to be observed. */
export async function killHard(child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGKILL');
  if (!(await waitForExit(child, timeoutMs))) {
    throw new Error(`process ${String(child.pid)} did not exit after SIGKILL`);
  }
}

// ---------------------------------------------------------------------------------------------
// Last-resort cleanup. `after(() => stopAllRedis())` is the normal path; these hooks cover the
// runs where it never executes: an uncaught exception, process.exit(), Ctrl-C or the test runner's
// SIGTERM on timeout. They must be synchronous: nothing asynchronous runs in an 'exit' listener.

const tracked = new Set<ChildProcess>();
let hooksInstalled = false;
let ownGroups = false;

/**
 * For a run that handles Ctrl-C itself (the chaos run): from now on, the children spawned through
 * this module start in a process group of their own, so a terminal's SIGINT, which goes to the
 * whole foreground group, reaches this process only, which then stops them in its own order; and
 * SIGINT no longer kills them here (SIGTERM, SIGHUP and the exit still do). The tests keep the
 * default: their children die with them on Ctrl-C.
 */
export function leaveCtrlCToCaller(): void {
  ownGroups = true;
}

/** The spawn option that puts a child in a process group of its own after `leaveCtrlCToCaller()`
 * (`detached`: setsid(), a new session and group; the child is still ours to wait for). */
export function groupOption(): { detached: boolean } {
  return { detached: ownGroups };
}

/** Registers a child to be SIGKILLed if this process exits while the child still runs. */
export function trackChild(child: ChildProcess): void {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  installExitHooks();
}

/** SIGKILLs every tracked child that still runs, synchronously (usable in an 'exit' listener). */
export function killTrackedNow(): void {
  for (const child of tracked) {
    if (hasExited(child)) continue;
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // Already gone between the check and the signal: nothing left to clean.
    }
  }
  tracked.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killTrackedNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (signal === 'SIGINT' && ownGroups) return;
      killTrackedNow();
      // Listening for a signal replaces Node's default "die"; restore it unless someone else
      // (the test runner, the code under test) handles the signal itself.
      process.off(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

export interface NodeRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node ...nodeArgs` to completion with none of the test's own RBUDDY_* variables, only
 * `env`'s, and collects its output. A process that hangs is SIGKILLed after `timeoutMs`, so it
 * fails its test rather than the whole run.
 */
export function runNode(
  nodeArgs: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<NodeRunResult> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('RBUDDY_')),
  );
  const child = spawn(process.execPath, nodeArgs, {
    cwd: options.cwd,
    env: { ...inherited, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Exits once what was written to stdout and stderr has left the process. On a pipe both are
 * asynchronous, and process.exit() drops what is still queued: a chaos report of 28 violations
 * was cut short before its last line, which the caller reads.
 */
export function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
