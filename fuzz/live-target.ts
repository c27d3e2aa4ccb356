// The process under fire: a real master, an active replica streaming through the built rbuddy
// CLI (`node dist/cli.js`), a standby, and a steady writer on the master. Its RSS is sampled
// from /proc throughout; at the end the replica's stream is checked byte for byte.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { freePort, hasExited, terminate } from '../harness/processes.js';
import { cliArgs, cliStatus, spawnRbuddy, type RbuddyProcess } from '../harness/rbuddy-process.js';
import { startRedis, stopAllRedis, type RedisServer } from '../harness/redis-server.js';
import {
  DigestMismatchError,
  masterStats,
  startWriter,
  waitForInSync,
  type Writer,
} from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';

const root = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(root, 'dist', 'cli.js');

export interface LiveTarget {
  rbuddy: RbuddyProcess;
  pid: number;
  master: RedisServer;
  active: RedisServer;
  standby: RedisServer;
  password: string;
  /** Peak VmRSS seen so far, in bytes. */
  peakRss(): number;
  /** Stops the writer, then checks the replica's stream; a reason when it is not intact. */
  checkStream(): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** VmRSS of a live process, in bytes (undefined once it is gone). */
function rssOf(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

export async function startLiveTarget(): Promise<LiveTarget> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const password = randomBytes(12).toString('hex');
  const replicaArgs = { masterauth: password };
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'fuzz-master' }),
    startRedis({ name: 'fuzz-active', args: replicaArgs }),
    startRedis({ name: 'fuzz-standby', args: replicaArgs }),
  ]);
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-fuzz-state-'));
  const port = await freePort();
  const rbuddy = await spawnRbuddy(
    cliArgs({ master, active, standby }, { listen: `127.0.0.1:${port}`, stateDir }),
    {
      node: [CLI],
      // The HTTP token exists so that the POST routes check it; the fuzzer never sends it.
      env: {
        RBUDDY_LISTEN_PASSWORD: password,
        RBUDDY_HTTP_TOKEN: randomBytes(16).toString('hex'),
        RBUDDY_LOG_LEVEL: 'info',
      },
    },
  );
  const pid = rbuddy.child.pid ?? 0;
  let peak = rssOf(pid) ?? 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssOf(pid) ?? 0);
  }, 100);

  await waitFor(
    async () => {
      const status = await cliStatus(rbuddy);
      const session = status.sessions.find((s) => s.replica === active.address);
      return status.state === 'healthy' && session?.phase === 'streaming';
    },
    { what: 'rbuddy healthy with the active streaming', timeoutMs: 120_000 },
  );
  const masterClient: Redis = master.client();
  await waitForInSync(masterClient, active.client());
  const syncFullBefore = (await masterStats(masterClient)).syncFull;
  const sessionBefore = (await cliStatus(rbuddy)).sessions.find(
    (s) => s.replica === active.address,
  )?.id;
  const writer: Writer = startWriter(master.client(), { keyPrefix: 'fuzz', intervalMs: 20 });

  return {
    rbuddy,
    pid,
    master,
    active,
    standby,
    password,
    peakRss: () => Math.max(peak, hasExited(rbuddy.child) ? 0 : (rssOf(pid) ?? 0)),
    async checkStream() {
      const writes = await writer.stop();
      if (writes === 0) return 'the writer wrote nothing';
      if (hasExited(rbuddy.child)) return 'rbuddy is not running';
      try {
        await waitForInSync(masterClient, active.client(), { timeoutMs: 120_000 });
      } catch (error) {
        if (error instanceof DigestMismatchError) return error.message;
        return `the replica never caught up: ${error instanceof Error ? error.message : String(error)}`;
      }
      const syncFull = (await masterStats(masterClient)).syncFull;
      if (syncFull !== syncFullBefore) {
        return `the master served ${syncFull - syncFullBefore} full resync(s) during the run`;
      }
      const session = (await cliStatus(rbuddy)).sessions.find((s) => s.replica === active.address);
      if (session?.id !== sessionBefore) {
        return `the replica's session was replaced (${String(sessionBefore)} → ${String(session?.id)})`;
      }
      return undefined;
    },
    async stop() {
      clearInterval(sampler);
      await writer.stop().catch(() => undefined);
      await terminate(rbuddy.child);
      await stopAllRedis();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
