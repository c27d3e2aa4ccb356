// redis-server with TLS for functional tests: plain port off (`port 0`), a TLS port found by
// binding 127.0.0.1:0 first, certificates from tls-certs.ts. Kept apart from redis-server.ts,
// whose readiness probe speaks plain TCP. Every process is tracked by its PID and stopped by
// `stopAllTlsRedis()`; the exit hooks of processes.ts kill whatever a crashed run leaves.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort, hasExited, killHard, terminate, trackChild } from '../../harness/processes.js';
import { pingOnce } from '../../harness/redis-server.js';
import type { CertFiles } from './tls-certs.js';
import { waitFor } from '../../harness/wait-for.js';

export interface StartTlsRedisOptions {
  name: string;
  /** The server's certificate and key (`tls-cert-file` / `tls-key-file`). */
  server: CertFiles;
  /** `tls-ca-cert-file`. */
  ca: string;
  /** `tls-auth-clients`. Default `yes`, as Redis's. */
  authClients?: 'yes' | 'no' | 'optional';
  /** The certificate this process's own probes and clients present; default `server`. */
  probeClient?: CertFiles;
  /** More directives, e.g. `{ 'tls-replication': 'yes', replicaof: '127.0.0.1 6380' }`. */
  args?: Record<string, string | number>;
}

export interface TlsRedis {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly tlsPort: number;
  readonly pid: number;
  readonly dir: string;
  /** An ioredis client over TLS (CA verified, `probeClient` presented unless overridden). */
  client(options?: Omit<RedisOptions, 'host' | 'port'>): Redis;
  /** ioredis `tls` options presenting `cert` (or no certificate), verifying the CA. */
  tlsOptions(cert?: CertFiles): NonNullable<RedisOptions['tls']>;
  logTail(lines?: number): string;
  /** SIGKILL, as a crash: the dir (and any RDB saved in it) stays for restart(). */
  kill9(): Promise<void>;
  /** Starts again on the same TLS port and dir, loading what was saved there. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ManagedTlsRedis>();

export async function startTlsRedis(options: StartTlsRedisOptions): Promise<TlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), `rbuddy-${options.name}-`));
  let failure = '';
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    const server = new ManagedTlsRedis(options, dir, await freePort());
    const outcome = await server.launch();
    if (outcome === undefined) {
      running.add(server);
      return server;
    }
    failure = outcome;
    // Another process took the port between freePort() and the bind: try another one.
    if (!/Address already in use/.test(outcome)) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server ${options.name} (TLS) did not start: ${failure}`);
}

export async function stopAllTlsRedis(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((server) => server.stop()));
}

class ManagedTlsRedis implements TlsRedis {
  readonly host = '127.0.0.1' as const;
  readonly name: string;
  private child: ChildProcess | undefined;
  private stderr = '';
  private readonly clients = new Set<Redis>();

  constructor(
    private readonly options: StartTlsRedisOptions,
    readonly dir: string,
    readonly tlsPort: number,
  ) {
    this.name = options.name;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`${this.name}: not started`);
    return pid;
  }

  private get logFile(): string {
    return join(this.dir, 'redis.log');
  }

  private argv(): string[] {
    const directives: Record<string, string | number> = {
      port: 0,
      'tls-port': this.tlsPort,
      bind: this.host,
      'tls-cert-file': this.options.server.cert,
      'tls-key-file': this.options.server.key,
      'tls-ca-cert-file': this.options.ca,
      'tls-auth-clients': this.options.authClients ?? 'yes',
      save: '',
      appendonly: 'no',
      dir: this.dir,
      'enable-debug-command': 'yes',
      daemonize: 'no',
      logfile: this.logFile,
      'protected-mode': 'no',
      ...this.options.args,
    };
    return Object.entries(directives).flatMap(([key, value]) => {
      const text = String(value).trim();
      return [`--${key}`, ...(text === '' ? [''] : text.split(/\s+/))];
    });
  }

  /** Resolves `undefined` once PING answers, or why the process could not start. */
  async launch(): Promise<string | undefined> {
    const child = spawn('redis-server', this.argv(), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4_000);
    });
    if (child.pid === undefined) {
      return `spawn failed: ${(await new Promise<Error>((resolve) => child.once('error', resolve))).message}`;
    }
    trackChild(child);
    const state = await waitFor(
      async () => (hasExited(child) ? 'exited' : (await this.pingOnce()) ? 'ready' : undefined),
      { what: `${this.name} to answer PING over TLS on ${this.tlsPort}`, timeoutMs: 30_000 },
    ).catch(async (error: unknown) => {
      await killHard(child);
      throw new Error(`${(error as Error).message}\n${this.diagnostics()}`, { cause: error });
    });
    return state === 'ready' ? undefined : `exited\n${this.diagnostics()}`;
  }

  private pingOnce(): Promise<boolean> {
    return pingOnce({
      host: this.host,
      port: this.tlsPort,
      tls: this.tlsOptions(this.options.probeClient ?? this.options.server),
    }).catch(() => false);
  }

  tlsOptions(cert?: CertFiles): NonNullable<RedisOptions['tls']> {
    return {
      ca: readFileSync(this.options.ca),
      ...(cert === undefined ? {} : { cert: readFileSync(cert.cert), key: readFileSync(cert.key) }),
    };
  }

  client(options: Omit<RedisOptions, 'host' | 'port'> = {}): Redis {
    const client = new Redis({
      host: this.host,
      port: this.tlsPort,
      tls: this.tlsOptions(this.options.probeClient ?? this.options.server),
      maxRetriesPerRequest: 2,
      ...options,
    });
    client.on('error', () => undefined);
    this.clients.add(client);
    return client;
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log file)';
    }
  }

  private diagnostics(): string {
    return [
      `log tail:\n${this.logTail(20)}`,
      this.stderr.trim() === '' ? '' : `stderr:\n${this.stderr}`,
    ]
      .filter(Boolean)
      .join('\n');
  }

  async kill9(): Promise<void> {
    if (this.child !== undefined) await killHard(this.child);
  }

  async restart(): Promise<void> {
    // The port was this server's until the kill: retried while the kernel still holds it.
    const outcome = await waitFor(
      async () => {
        const failure = await this.launch();
        if (failure === undefined) return 'started';
        if (/Address already in use/.test(failure)) return undefined;
        throw new Error(`${this.name} did not restart: ${failure}`);
      },
      { what: `${this.name} to restart on ${this.tlsPort}`, timeoutMs: 30_000, intervalMs: 200 },
    );
    if (outcome !== 'started') throw new Error(`${this.name} did not restart`);
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.disconnect();
    this.clients.clear();
    try {
      if (this.child !== undefined) await terminate(this.child, 5_000);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
