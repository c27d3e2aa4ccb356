// The proxy under measurement: the real CLI as a child process whose PID is node's own.
//
// Two ways to run it. `dist` (the default) compiles src/ with tsconfig.build.json into
// .bench-tmp/dist (not dist/, which belongs to whoever builds the package) and runs
// `node .bench-tmp/dist/cli.js`, as production does; `tsx` runs `node --import tsx src/cli.ts`
// through harness/rbuddy-process.ts. Both cost the same per byte, but tsx's loader thread
// adds ~25 MB of resident memory, which would be charged to the relay's peak RSS.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionStatus } from '../src/proxy/session-types.js';
import { StateFile } from '../src/standby/state-file.js';
import { terminate } from '../harness/processes.js';
import type { RedisServer } from '../harness/redis-server.js';
import { spawnRbuddy, type RbuddyProcess } from '../harness/rbuddy-process.js';
import { replicationEndpoint } from './nodes.js';
import { assertIsNode } from './proc-stats.js';
import { proxyTlsArgs, type BenchTls } from './tls.js';

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
  sessions: SessionStatus[];
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

/**
 * Starts a proxy for `master`, with the benchmark's replica as its active replica; with
 * `nodes.tls`, TLS on both hops (a TLS-only listener, the master's TLS port).
 */
export async function startProxy(
  nodes: { master: RedisServer; replica: RedisServer; standbyAddress: string; tls?: BenchTls },
  options: ProxyOptions,
): Promise<BenchProxy> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-bench-state-'));
  stateDirs.add(stateDir);
  // A first-start state, written before rbuddy starts: with no state file rbuddy decides
  // nothing until both nodes answer, and refuses every full sync meanwhile (the replica it
  // cannot see might be serving reads). The standby here never answers (see nodes.ts), and
  // the replica it relays for is still empty as far as rbuddy knows.
  await new StateFile(stateDir).save({
    version: 1,
    epoch: 0,
    active: nodes.replica.address,
    standby: nodes.standbyAddress,
    activeHoldsData: false,
    failover: null,
    lastFailover: null,
  });
  const master = replicationEndpoint(nodes);
  const args = [
    '--master',
    `${master.host}:${master.port}`,
    '--active',
    nodes.replica.address,
    '--standby',
    nodes.standbyAddress,
    ...(nodes.tls === undefined ? ['--listen', '127.0.0.1:0'] : proxyTlsArgs(nodes.tls)),
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    // Info, not debug: the listeners' "ready" lines are how we learn the ports, and
    // per-session lines are few.
    '--log-level',
    'info',
  ];
  let spawned: RbuddyProcess;
  try {
    spawned = await spawnRbuddy(args, {
      ...(options.runtime === 'dist'
        ? { node: [...options.nodeArgs, join(buildDir, 'cli.js')] }
        : {}),
    });
  } catch (error) {
    removeStateDir(stateDir);
    throw error;
  }
  const { child, httpUrl } = spawned;
  const pid = child.pid;
  if (pid === undefined) throw new Error('rbuddy child has no PID');
  assertIsNode(pid);

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

async function status(httpUrl: string): Promise<StatusBody> {
  const response = await fetch(`${httpUrl}/v1/status`);
  if (!response.ok) throw new Error(`GET /v1/status: HTTP ${response.status}`);
  return (await response.json()) as StatusBody;
}

function removeStateDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  stateDirs.delete(dir);
}
