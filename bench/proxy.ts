// The proxy under measurement: the real CLI as a child process whose PID is node's own.
//
// Two ways to run it. `dist` (the default) compiles src/ with tsconfig.build.json into
// .bench-tmp/dist (not dist/, which belongs to whoever builds the package) and runs
// `node .bench-tmp/dist/cli.js`, as production does; `tsx` runs `node --import tsx src/cli.ts`
// through test/helpers/rbuddy-process.ts. Both cost the same per byte, but tsx's loader thread
// adds ~25 MB of resident memory, which would be charged to the relay's peak RSS.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostPort } from '../src/config-types.js';
import type { SessionStatus } from '../src/proxy/session-types.js';
import { hasExited, terminate, trackChild } from '../test/helpers/processes.js';
import type { RedisServer } from '../test/helpers/redis-server.js';
import { spawnRbuddy } from '../test/helpers/rbuddy-process.js';
import { waitFor } from '../test/helpers/wait-for.js';
import { assertIsNode } from './proc-stats.js';
import type { ChildProcess } from 'node:child_process';

export type ProxyRuntime = 'dist' | 'tsx';

export interface ProxyOptions {
  runtime: ProxyRuntime;
  /** `dist` only: extra node flags for the proxy, e.g. `--cpu-prof --cpu-prof-dir=DIR`. */
  nodeArgs: readonly string[];
}

export interface BenchProxy {
  readonly pid: number;
  /** Where replicas point: `REPLICAOF host port`. */
  readonly host: string;
  readonly port: number;
  /** The proxy's session for this replica, from GET /v1/status. */
  session(replica: RedisServer): Promise<SessionStatus | undefined>;
  /** The failover engine's state, from GET /v1/status. */
  engineState(): Promise<string>;
  stop(): Promise<void>;
}

interface StatusBody {
  /** The failover engine's state (see nodes.ts for why it is `degraded` here). */
  state?: string;
  /** Null until the engine has read (or, on a first start, written) its persisted state. */
  epoch?: number | null;
  sessions: SessionStatus[];
}

interface Spawned {
  child: ChildProcess;
  resp: HostPort;
  httpUrl: string;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const buildDir = join(root, '.bench-tmp', 'dist');
const running = new Set<BenchProxy>();
const stateDirs = new Set<string>();

// Belt and braces for a crash: the child itself is SIGKILLed by processes.ts's exit hook.
process.on('exit', () => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Compiles src/ into .bench-tmp/dist (same settings as `npm run build`). Type errors (someone
 * editing src/ right now) do not stop tsc from emitting; they are reported, and the bench goes
 * on if cli.js came out.
 */
export function buildProxy(): string {
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', buildDir, '--declaration', 'false'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
    );
  } catch (error) {
    const output = (error as { stdout?: string }).stdout ?? String(error);
    console.error(
      `bench: tsc reported problems in src/ (going on with what it emitted):\n${output}`,
    );
  }
  const cli = join(buildDir, 'cli.js');
  if (!existsSync(cli)) throw new Error(`tsc did not emit ${cli}`);
  return cli;
}

/** Starts a proxy for `master`, with the benchmark's replica as its active replica. */
export async function startProxy(
  nodes: { master: RedisServer; replica: RedisServer; standbyAddress: string },
  options: ProxyOptions,
): Promise<BenchProxy> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-bench-state-'));
  stateDirs.add(stateDir);
  const args = [
    '--master',
    nodes.master.address,
    '--active',
    nodes.replica.address,
    '--standby',
    nodes.standbyAddress,
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    // Info, not debug: the listeners' "ready" lines are how we learn the ports, and
    // per-session lines are few.
    '--log-level',
    'info',
  ];
  let spawned: Spawned;
  try {
    spawned =
      options.runtime === 'tsx'
        ? await spawnRbuddy(args)
        : await spawnCompiled(join(buildDir, 'cli.js'), args, options.nodeArgs);
  } catch (error) {
    removeStateDir(stateDir);
    throw error;
  }
  const { child, httpUrl } = spawned;
  const pid = child.pid;
  if (pid === undefined) throw new Error('rbuddy child has no PID');
  assertIsNode(pid);
  // The listeners are up before the failover engine has loaded its state, and until then its
  // PSYNC gate refuses every +FULLRESYNC (the replica would retry a second later).
  await waitFor(
    async () => {
      const body = await status(httpUrl);
      return !('epoch' in body) || body.epoch !== null;
    },
    { what: "the proxy's failover engine to load its state", timeoutMs: 30_000 },
  ).catch(async (error: unknown) => {
    await terminate(child);
    removeStateDir(stateDir);
    throw error;
  });

  const proxy: BenchProxy = {
    pid,
    host: spawned.resp.host,
    port: spawned.resp.port,
    async session(replica) {
      return (await status(httpUrl)).sessions.find((s) => s.replica === replica.address);
    },
    async engineState() {
      return (await status(httpUrl)).state ?? 'none';
    },
    async stop() {
      running.delete(proxy);
      try {
        await terminate(child);
      } finally {
        removeStateDir(stateDir);
      }
    },
  };
  running.add(proxy);
  return proxy;
}

/** Stops every proxy still running (the error and Ctrl-C path). */
export async function stopAllProxies(): Promise<void> {
  await Promise.allSettled([...running].map((proxy) => proxy.stop()));
}

/**
 * `node <cli> …args`, learning the bound ports from the JSON log lines the listeners write
 * when ready (as spawnRbuddy does for the tsx form, which it hard-codes).
 */
async function spawnCompiled(
  cli: string,
  args: string[],
  nodeArgs: readonly string[],
): Promise<Spawned> {
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const ready = new Map<string, HostPort>();
  let pending = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('listener ready')) continue;
      const entry = JSON.parse(line) as { msg?: string; listen?: HostPort };
      if (entry.msg !== undefined && entry.listen !== undefined) ready.set(entry.msg, entry.listen);
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr += text;
  });
  try {
    const [resp, http] = await waitFor(
      () => {
        if (hasExited(child)) throw new Error(`rbuddy exited early: ${stderr}`);
        const r = ready.get('RESP listener ready');
        const h = ready.get('admin HTTP listener ready');
        return r !== undefined && h !== undefined ? ([r, h] as const) : undefined;
      },
      { what: 'rbuddy to listen', timeoutMs: 30_000 },
    );
    return { child, resp, httpUrl: `http://${http.host}:${http.port}` };
  } catch (error) {
    await terminate(child);
    throw error;
  }
}

async function status(httpUrl: string): Promise<StatusBody> {
  const response = await fetch(`${httpUrl}/v1/status`);
  if (!response.ok) throw new Error(`GET /v1/status: HTTP ${response.status}`);
  return (await response.json()) as StatusBody;
}

function removeStateDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  stateDirs.delete(dir);
}
