// Real redis-server processes on ephemeral ports for the functional tests, the bench and the demo.
// Each server gets its own temporary dir and log file; every server and client is recorded so
// that `stopAllRedis()` (a test file's `after()` hook, the end of a bench or demo run) cleans up
// everything that run started, and only that.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import {
  freePort,
  groupOption,
  hasExited,
  killHard,
  killTrackedNow,
  terminate,
  trackChild,
} from './processes.js';
import { waitFor } from './wait-for.js';

/**
 * Extra redis-server config directives; they override the defaults. Values use config-file
 * syntax: a multi-word value is split on whitespace into separate arguments, so
 * `{ save: '3600 1' }` and `{ replicaof: '127.0.0.1 6379' }` work, and `''` is an empty argument
 * (`{ save: '' }`). A single argument cannot contain spaces.
 */
export type RedisArgs = Record<string, string | number>;

export interface StartRedisOptions {
  args?: RedisArgs;
  /** Shown in errors and used in the temp dir name. Default `redis-<n>`. */
  name?: string;
  /** Working dir (RDB, log). Default: a fresh temp dir, removed by `stopAllRedis()`. A dir given
   * here is created if missing and left in place. */
  dir?: string;
  /** A fixed port (e.g. one rbuddy was pointed at before the server existed). Default: a free
   * ephemeral port. A fixed port that is taken is retried, never swapped for another. */
  port?: number;
}

/** Options for {@link RedisServer.client}: any ioredis option, plus the logical db. */
export type RedisClientOptions = Omit<RedisOptions, 'host' | 'port' | 'db'> & { db?: number };

export interface RedisServer {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** PID of the current process; changes on `restart()`. */
  readonly pid: number;
  readonly dir: string;
  /** `127.0.0.1:<port>`, the form the rbuddy config takes. */
  readonly address: string;
  /** The `requirepass` argument it was started with, if any. */
  readonly password: string | undefined;
  /** Whether the current process has exited. */
  readonly exited: boolean;
  /** A new ioredis client (authenticated when `requirepass` was given); closed by `stop()`. */
  client(options?: RedisClientOptions): Redis;
  /** SIGTERM, wait for the exit, SIGKILL after 5 s; closes this server's clients. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: no RDB saved on the way out); clients are kept and will reconnect. */
  kill9(): Promise<void>;
  /** SIGSTOP: the process stays, its sockets stay open, nothing answers. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Start again with the same port, dir and args (SIGTERM first if still running). Resolves when
   * PING answers, i.e. after any RDB has been loaded. */
  restart(): Promise<void>;
  /** The last `lines` lines of the server's log file. */
  logTail(lines?: number): string;
}

const START_TIMEOUT_MS = 30_000;
const BIND_ATTEMPTS = 5;
const STOP_GRACE_MS = 5_000;

let serial = 0;
const servers = new Set<ManagedRedis>();

// Temp dirs still owned at exit (a crash, or no stopAllRedis): a replica's dir can hold a
// 100 MB dump.rdb, too much to leave behind per failed run. This listener may run before the one
// in processes.ts, so it kills the servers itself first: a dir is never removed under a live one.
const ownedDirs = new Set<string>();
process.on('exit', () => {
  killTrackedNow();
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts redis-server on a free ephemeral port and resolves once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  serial += 1;
  const name = options.name ?? `redis-${serial}`;
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `rbuddy-${safeName(name)}-`));
  if (ownsDir) ownedDirs.add(dir);
  else mkdirSync(dir, { recursive: true });

  let lastFailure = '';
  try {
    for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt += 1) {
      const port = options.port ?? (await freePort());
      const server = new ManagedRedis(name, port, dir, ownsDir, options.args ?? {});
      const outcome = await server.launch();
      if (outcome === 'ready') {
        servers.add(server);
        return server;
      }
      lastFailure = outcome.reason;
      if (!outcome.bindFailed) break;
      // A fixed port is retried as is (as in restart()): a connection may briefly hold it.
      if (options.port !== undefined)
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  } catch (error) {
    if (ownsDir) removeOwnedDir(dir);
    throw error;
  }
  if (ownsDir) removeOwnedDir(dir);
  throw new Error(`redis-server ${name} did not start: ${lastFailure}`);
}

/**
 * Stops every server started by this module that still runs (paused ones are resumed first so
 * they can act on SIGTERM), closes every client handed out, and removes the temp dirs.
 */
export async function stopAllRedis(): Promise<void> {
  const all = [...servers];
  servers.clear();
  const results = await Promise.allSettled(all.map((server) => server.dispose()));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    throw new AggregateError(
      failures.map((f) => f.reason as unknown),
      `stopAllRedis: ${failures.length} server(s) failed to stop`,
    );
  }
}

/** Every server started and not yet disposed by `stopAllRedis()` (for leak checks in tests). */
export function runningRedisServers(): readonly RedisServer[] {
  return [...servers];
}

type LaunchOutcome = 'ready' | { reason: string; bindFailed: boolean };

class ManagedRedis implements RedisServer {
  readonly host = '127.0.0.1' as const;
  readonly password: string | undefined;
  private child: ChildProcess | undefined;
  private stderr = '';
  private readonly clients = new Set<Redis>();

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    private readonly ownsDir: boolean,
    private readonly extraArgs: RedisArgs,
  ) {
    const requirepass = extraArgs['requirepass'];
    this.password =
      requirepass === undefined || requirepass === '' ? undefined : String(requirepass);
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`${this.name}: not started`);
    return pid;
  }

  get exited(): boolean {
    return this.child === undefined || hasExited(this.child);
  }

  private get logFile(): string {
    return join(this.dir, 'redis.log');
  }

  /** The full argument vector: our defaults, then the caller's directives replacing them. */
  private argv(): string[] {
    const directives: RedisArgs = {
      port: this.port,
      bind: this.host,
      save: '',
      appendonly: 'no',
      dir: this.dir,
      'enable-debug-command': 'yes',
      daemonize: 'no',
      logfile: this.logFile,
      loglevel: 'notice',
      'protected-mode': 'no',
      ...this.extraArgs,
    };
    // A directive must appear once: redis-server appends repeated `save` lines instead of
    // replacing them, so a caller's `save` next to our `save ""` would not mean what it says.
    const argv: string[] = [];
    for (const [key, value] of Object.entries(directives)) {
      const text = String(value);
      // redis-server joins the arguments after `--key` into one config line (main() in
      // server.c, quoting each), so words must be separate arguments: `replicaof` needs two.
      argv.push(`--${key}`, ...(text.trim() === '' ? [''] : text.trim().split(/\s+/)));
    }
    return argv;
  }

  /** Spawns the process and waits until it answers PING or exits. */
  async launch(): Promise<LaunchOutcome> {
    this.stderr = '';
    const child = spawn('redis-server', this.argv(), {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...groupOption(),
    });
    this.child = child;
    // Before the log file is open (config errors), redis-server reports on stderr; keep a bounded
    // tail of it for the error message.
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4_000);
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    if (child.pid === undefined) {
      return { reason: `spawn failed: ${(await spawnError).message}`, bindFailed: false };
    }
    trackChild(child);

    const state = await waitFor(
      async () => {
        if (hasExited(child)) return 'exited' as const;
        return (await this.pingOnce()) ? ('ready' as const) : undefined;
      },
      { what: `${this.name} (port ${this.port}) to answer PING`, timeoutMs: START_TIMEOUT_MS },
    ).catch(async (error: unknown) => {
      await killHard(child);
      throw new Error(`${this.name}: ${(error as Error).message}\n${this.diagnostics()}`, {
        cause: error,
      });
    });
    if (state === 'ready') return 'ready';

    const diagnostics = this.diagnostics();
    return {
      reason: `exited with ${String(child.exitCode ?? child.signalCode)}\n${diagnostics}`,
      // Redis logs "Could not create server TCP listening socket …: bind: Address already in use"
      // (listenToPort in server.c) and exits; another process took the port after freePort().
      bindFailed: /Address already in use/.test(diagnostics),
    };
  }

  private pingOnce(): Promise<boolean> {
    return pingOnce({
      host: this.host,
      port: this.port,
      ...(this.password === undefined ? {} : { password: this.password }),
    });
  }

  private diagnostics(): string {
    const parts = [`log tail (${this.logFile}):\n${this.logTail(20)}`];
    if (this.stderr.trim() !== '') parts.push(`stderr:\n${this.stderr.trim()}`);
    return parts.join('\n');
  }

  client(options: RedisClientOptions = {}): Redis {
    const client = new Redis({
      host: this.host,
      port: this.port,
      ...(this.password === undefined ? {} : { password: this.password }),
      lazyConnect: false,
      // Fail a command after a couple of reconnect attempts instead of queueing it forever while
      // a test has the server stopped or killed; the reconnect loop itself keeps going.
      maxRetriesPerRequest: 2,
      ...options,
    });
    // Without a listener ioredis prints every connection error to the console. Tests kill and
    // pause servers on purpose; failures that matter reach the test as rejected commands.
    client.on('error', () => undefined);
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  private closeClients(): void {
    // disconnect(), not quit(): QUIT would wait for an answer a paused or dead server never sends.
    for (const client of this.clients) client.disconnect();
    this.clients.clear();
  }

  async stop(): Promise<void> {
    this.closeClients();
    if (this.child !== undefined) await terminate(this.child, STOP_GRACE_MS);
  }

  async kill9(): Promise<void> {
    if (this.child !== undefined) await killHard(this.child);
  }

  pause(): void {
    if (this.child === undefined || this.exited) throw new Error(`${this.name}: not running`);
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    if (this.child === undefined || this.exited) throw new Error(`${this.name}: not running`);
    this.child.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    if (this.child !== undefined) await terminate(this.child, STOP_GRACE_MS);
    let lastFailure = '';
    // The port cannot change (replicas and the proxy point at it), so a bind failure is retried
    // on the same port: usually an outgoing connection briefly holding it as its local port.
    for (let attempt = 1; attempt <= 20; attempt += 1) {
      const outcome = await this.launch();
      if (outcome === 'ready') return;
      lastFailure = outcome.reason;
      if (!outcome.bindFailed) break;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
    throw new Error(
      `redis-server ${this.name} did not restart on port ${this.port}: ${lastFailure}`,
    );
  }

  logTail(lines = 50): string {
    let text: string;
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return '(no log file)';
    }
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Stop for good: process, clients, and the temp dir if we created it. */
  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      if (this.ownsDir) removeOwnedDir(this.dir);
    }
  }
}

function removeOwnedDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  ownedDirs.delete(dir);
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * One PING on a throwaway connection that never retries (a server starting up): true on PONG;
 * rejects while the connection is refused, and while an RDB loads (PING gets -LOADING), so
 * "ready" also means "data loaded".
 */
export async function pingOnce(options: RedisOptions): Promise<boolean> {
  const probe = new Redis({
    ...options,
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
  });
  // Connection refusals are the expected "not yet"; the command's rejection reports them.
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch (error) {
    // A replica held with replica-serve-stale-data no answers even PING -MASTERDOWN: it is up.
    // (rbuddy may hold a node it sees come back before the harness's first PING: a race.)
    if (error instanceof Error && error.message.startsWith('MASTERDOWN')) return true;
    throw error;
  } finally {
    probe.disconnect();
  }
}
