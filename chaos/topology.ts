// The chaos run's topology, all on loopback: a master (AOF, fsync always) behind a fault
// forwarder (rbuddy's --master), two replicas, the built rbuddy CLI whose --announce is a second
// forwarder in front of its listener (so every replica's replication link crosses it), its state
// dir on a small tmpfs of its own (so that "full" and "read-only" are real for root), a webhook
// receiver that verifies Standard Webhooks signatures, and a steady writer on the master.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startFaultForwarder, type FaultForwarder } from '../harness/fault-forwarder.js';
import { freePort, groupOption, portIsFree, terminate, trackChild } from '../harness/processes.js';
import { spawnRbuddy, type RbuddyProcess } from '../harness/rbuddy-process.js';
import { startRedis, type RedisArgs, type RedisServer } from '../harness/redis-server.js';
import { waitFor } from '../harness/wait-for.js';
import {
  newWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../harness/webhook-receiver.js';

const root = fileURLToPath(new URL('..', import.meta.url));
export const FIXED_KEYS = 2000;
export const PROBE_KEY = 'chaos:probe';
export const PROBE_VALUE = 'chaos-probe-value';

export type MasterRestart = 'rdb' | 'aof' | 'empty';

const MASTER_ARGS: RedisArgs = { appendonly: 'yes', appendfsync: 'always' };

export class ChaosTopology {
  master!: RedisServer;
  replicas!: [RedisServer, RedisServer];
  masterLink!: FaultForwarder;
  replicaLink!: FaultForwarder;
  rbuddy: RbuddyProcess | undefined;
  receiver!: WebhookReceiver;
  writer: ChildProcess | undefined;
  readonly token = `chaos-${Math.random().toString(36).slice(2)}`;
  httpUrl = '';
  stateDir = '';
  /** Whether the state dir is a tmpfs of our own (the state-dir faults need it). */
  stateMounted = false;
  /** Called when rbuddy exits without our asking. */
  onRbuddyExit: (code: number | null, signal: string | null) => void = () => undefined;
  /** Each acknowledgement of the steady writer: the highest sequence the master acknowledged. */
  onWriterAck: (seq: number) => void = () => undefined;
  private listenPort = 0;
  private httpPort = 0;
  private rbuddyLogs = 0;
  private expectingExit = false;

  constructor(readonly dir: string) {}

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.master = await startRedis({
      name: 'master',
      dir: join(this.dir, 'master'),
      args: MASTER_ARGS,
    });
    this.replicas = [
      await startRedis({ name: 'replica-a', dir: join(this.dir, 'replica-a') }),
      await startRedis({ name: 'replica-b', dir: join(this.dir, 'replica-b') }),
    ];
    await populate(this.master);
    this.masterLink = await startFaultForwarder({ target: this.master });
    this.listenPort = await freePort();
    this.httpPort = await freePort();
    this.httpUrl = `http://127.0.0.1:${this.httpPort}`;
    this.replicaLink = await startFaultForwarder({
      target: { host: '127.0.0.1', port: this.listenPort },
    });
    this.receiver = await startWebhookReceiver({ secret: newWebhookSecret() });
    this.stateDir = join(this.dir, 'state');
    mkdirSync(this.stateDir, { recursive: true });
    this.stateMounted =
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', this.stateDir])
        .status === 0;
    await this.startRbuddy();
    await waitFor(async () => (await this.status())?.state === 'healthy', {
      what: 'rbuddy healthy at the start',
      timeoutMs: 120_000,
    });
    this.startWriter();
  }

  /** The built CLI, with fixed ports so that the replicas and readers keep their addresses. */
  async startRbuddy(): Promise<void> {
    await waitFor(
      async () => (await portIsFree(this.listenPort)) && (await portIsFree(this.httpPort)),
      {
        what: "rbuddy's ports free",
        timeoutMs: 30_000,
      },
    );
    const [a, b] = this.replicas;
    this.rbuddyLogs += 1;
    const log = createWriteStream(join(this.dir, `rbuddy-${this.rbuddyLogs}.log`));
    const rbuddy = await spawnRbuddy(
      [
        '--master',
        this.masterLink.address,
        '--active',
        a.address,
        '--standby',
        b.address,
        '--listen',
        `127.0.0.1:${this.listenPort}`,
        '--announce',
        this.replicaLink.address,
        '--http',
        `127.0.0.1:${this.httpPort}`,
        '--state-dir',
        this.stateDir,
        '--webhook',
        this.receiver.url,
        '--grace-ms',
        '1500',
        '--drain-ms',
        '1000',
        '--probe-interval-ms',
        '250',
        '--probe-timeout-ms',
        '1000',
        '--repl-timeout-ms',
        '10000',
        '--sync-timeout-ms',
        '60000',
        '--webhook-timeout-ms',
        '3000',
      ],
      {
        node: [join(root, 'dist/cli.js')],
        env: { RBUDDY_HTTP_TOKEN: this.token, RBUDDY_WEBHOOK_SECRET: this.receiver.secret },
      },
    );
    rbuddy.child.stdout?.on('data', (chunk: string) => log.write(chunk));
    rbuddy.child.stderr?.on('data', (chunk: string) => log.write(chunk));
    for (const line of rbuddy.logs()) log.write(`${JSON.stringify(line)}\n`);
    this.expectingExit = false;
    rbuddy.child.once('exit', (code, signal) => {
      log.end();
      if (!this.expectingExit) this.onRbuddyExit(code, signal);
    });
    this.rbuddy = rbuddy;
  }

  async killRbuddy(): Promise<void> {
    const rbuddy = this.rbuddy;
    if (rbuddy === undefined) return;
    this.expectingExit = true;
    this.rbuddy = undefined;
    rbuddy.child.kill('SIGKILL');
    await rbuddy.exit(15_000);
  }

  rbuddyLogPaths(): string[] {
    return Array.from({ length: this.rbuddyLogs }, (_, i) => join(this.dir, `rbuddy-${i + 1}.log`));
  }

  /** kill -9 the master; with `rdb`, after a SAVE (what comes after it is lost at the restart). */
  async killMaster(mode: MasterRestart): Promise<void> {
    if (mode === 'rdb')
      await this.master
        .client()
        .call('SAVE')
        .catch(() => undefined);
    await this.master.kill9();
  }

  /** Start the master again on its port: from its AOF, from the RDB, or empty. */
  async startMaster(mode: MasterRestart): Promise<void> {
    const { port, dir } = this.master;
    if (mode !== 'aof') rmSync(join(dir, 'appendonlydir'), { recursive: true, force: true });
    if (mode === 'empty') rmSync(join(dir, 'dump.rdb'), { force: true });
    const args = mode === 'aof' ? MASTER_ARGS : { ...MASTER_ARGS, appendonly: 'no' };
    this.master = await startRedis({ name: 'master', port, dir, args });
    if (mode !== 'aof') {
      // Turning the AOF on rewrites it in the background; a kill -9 before that rewrite is done
      // leaves no AOF to load, and Redis then starts empty (it ignores dump.rdb once appendonly
      // is on): a loss of the run's own making (seed 867684573 at 1,321 s). The restart fault
      // ends once the AOF holds the dataset.
      const client = this.master.client();
      await client.config('SET', 'appendonly', 'yes');
      await waitFor(
        async () => {
          const info = await client.info('persistence');
          return /aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info);
        },
        { what: "the master's AOF rewritten", timeoutMs: 60_000 },
      );
    }
    // What a real application would restore from its backup: the fixed keys, in one atomic MSET.
    if (mode === 'empty') await populate(this.master);
  }

  /** rbuddy's own RESP listener (not the forwarder in front of it). */
  listenAddress(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.listenPort };
  }

  replicaByAddress(address: string): RedisServer | undefined {
    return this.replicas.find((replica) => replica.address === address);
  }

  async status(): Promise<StatusView | undefined> {
    try {
      const response = await fetch(`${this.httpUrl}/v1/status`, {
        signal: AbortSignal.timeout(1000),
      });
      return (await response.json()) as StatusView;
    } catch {
      return undefined;
    }
  }

  async post(path: string): Promise<number> {
    try {
      const response = await fetch(`${this.httpUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}` },
        signal: AbortSignal.timeout(3000),
      });
      await response.text();
      return response.status;
    } catch {
      return 0;
    }
  }

  startWriter(): void {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/steady-writer.ts',
        '127.0.0.1',
        String(this.master.port),
        '300',
        '--acks',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], ...groupOption() },
    );
    trackChild(child);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const acked = /^\{"acked":(\d+)\}$/.exec(line)?.[1];
      if (acked !== undefined) this.onWriterAck(Number(acked));
    });
    this.writer = child;
  }

  async close(): Promise<void> {
    if (this.writer !== undefined) await terminate(this.writer);
    if (this.rbuddy !== undefined) {
      this.expectingExit = true;
      await terminate(this.rbuddy.child);
    }
    await Promise.allSettled([
      this.masterLink?.close(),
      this.replicaLink?.close(),
      this.receiver?.close(),
    ]);
    this.unmountState();
  }

  unmountState(): void {
    if (!this.stateMounted) return;
    spawnSync('mount', ['-o', 'remount,rw', this.stateDir]);
    if (spawnSync('umount', [this.stateDir]).status === 0) this.stateMounted = false;
  }

  hasState(): boolean {
    return existsSync(join(this.stateDir, 'state.json'));
  }
}

export interface StatusView {
  state: string;
  reason: string | null;
  epoch: number | null;
  active: string | null;
  standby: string | null;
  masterUp: boolean;
  notifications: { webhooks: Array<{ pending: number }> };
  /** The failover under way, if any (only what the checker reads). */
  failover?: { incoming: string; outgoing: string; step: string } | null;
  /** The replication sessions through rbuddy (only what the checker reads). */
  sessions: Array<{ replica: string | null; phase: string }>;
}

/** The fixed keys and the probe, in one MSET: a snapshot holds all of them or none. */
async function populate(server: RedisServer): Promise<void> {
  const args: string[] = [PROBE_KEY, PROBE_VALUE];
  for (let i = 0; i < FIXED_KEYS; i += 1) args.push(`chaos:k:${i}`, `fixed-${i}`);
  await server.client().mset(...args);
}
