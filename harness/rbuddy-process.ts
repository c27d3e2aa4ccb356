// Runs the real `rbuddy` CLI as a child process (for signals, exit codes and kill -9), reading
// its JSON log lines from stdout to learn the ports it bound. Tests, the demo and the benchmark
// all start rbuddy through here: from source through tsx (the default), or a compiled cli.js.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AppStatus } from '../src/app.js';
import type { HostPort } from '../src/config/types.js';
import {
  groupOption,
  hasExited,
  portIsFree,
  terminate,
  trackChild,
  waitForExit,
} from './processes.js';
import { waitFor } from './wait-for.js';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface RbuddyProcess {
  child: ChildProcess;
  resp: HostPort;
  httpUrl: string;
  /** Every log line so far, parsed (a line that is not JSON: `{ msg, unparsed: true }`). */
  logs(): Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exit(timeoutMs?: number): Promise<number | null>;
}

/** A log line of rbuddy's at warn or above (it logs levels by label: `"level":"warn"`). */
export function isWarning(line: Record<string, unknown>): boolean {
  return ['warn', 'error', 'fatal'].includes(String(line.level));
}

export interface SpawnOptions {
  /** The environment besides PATH (nothing else of the test's own is passed on). */
  env?: Record<string, string>;
  /**
   * Node's arguments up to and including the entry script. Default: from source through tsx.
   * A compiled CLI: `[...nodeFlags, '/path/to/dist/cli.js']`.
   */
  node?: readonly string[];
  /** Working directory. Default: the repository. */
  cwd?: string;
}

const FROM_SOURCE = ['--import', 'tsx', 'src/cli.ts'];

export async function spawnRbuddy(
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<RbuddyProcess> {
  const child = spawn(process.execPath, [...(options.node ?? FROM_SOURCE), ...args], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...groupOption(),
  });
  trackChild(child);
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    pending += text;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line, unparsed: true });
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr += text;
  });
  const listening = (msg: string): HostPort | undefined =>
    lines.find((line) => line.msg === msg)?.listen as HostPort | undefined;
  const [resp, http] = await waitFor(
    () => {
      if (hasExited(child)) throw new Error(`rbuddy exited early: ${stderr}`);
      const r = listening('RESP listener ready');
      const h = listening('admin HTTP listener ready');
      return r !== undefined && h !== undefined ? ([r, h] as const) : undefined;
    },
    { what: 'rbuddy to listen', timeoutMs: 30_000 },
  ).catch(async (error: unknown) => {
    await terminate(child);
    throw error;
  });
  return {
    child,
    resp,
    httpUrl: `http://${http.host}:${http.port}`,
    logs: () => lines,
    stderr: () => stderr,
    async exit(timeoutMs = 15_000) {
      if (!(await waitForExit(child, timeoutMs))) throw new Error('rbuddy did not exit in time');
      return child.exitCode;
    },
  };
}

/**
 * The arguments of an rbuddy CLI for three servers: listening on `listen` (keep one address
 * across restarts: the replicas REPLICAOF it), its state in `stateDir`, then `extra`.
 */
export function cliArgs(
  servers: {
    master: { address: string };
    active: { address: string };
    standby: { address: string };
  },
  options: { listen: string; stateDir: string; extra?: readonly string[] },
): string[] {
  return [
    '--master',
    servers.master.address,
    '--active',
    servers.active.address,
    '--standby',
    servers.standby.address,
    '--listen',
    options.listen,
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    options.stateDir,
    ...(options.extra ?? []),
  ];
}

/** GET /v1/status of a CLI process. */
export async function cliStatus(rbuddy: RbuddyProcess): Promise<AppStatus> {
  const response = await fetch(`${rbuddy.httpUrl}/v1/status`, {
    signal: AbortSignal.timeout(5_000),
  });
  return (await response.json()) as AppStatus;
}

/**
 * Spawns the CLI with `args` once its fixed `--listen` port can be bound again (after a kill -9
 * of the previous process), and waits until it is `healthy`.
 */
export async function spawnHealthy(args: readonly string[]): Promise<RbuddyProcess> {
  const port = Number(args[args.indexOf('--listen') + 1]?.split(':').at(-1));
  if (port !== 0) {
    await waitFor(() => portIsFree(port), { what: `port ${port} free`, timeoutMs: 30_000 });
  }
  const rbuddy = await spawnRbuddy(args);
  await waitFor(async () => (await cliStatus(rbuddy)).state === 'healthy', {
    what: 'rbuddy healthy',
    timeoutMs: 60_000,
  }).catch(async (error: unknown) => {
    await terminate(rbuddy.child);
    throw error;
  });
  return rbuddy;
}
