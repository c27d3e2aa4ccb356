// A real Redis Sentinel (Debian's `redis-sentinel`) on an ephemeral loopback port, monitoring a
// given master, for tests that compare rbuddy's Sentinel replies with the real ones. It is kept
// from changing the topology it watches: its SLAVEOF and CONFIG are renamed to commands that do
// not exist (`sentinel rename-command`), so its "+fix-slave-config" (a replica that follows
// rbuddy, not the master, looks misconfigured to it) aborts instead of repointing the replica.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, terminate, trackChild } from './processes.js';
import { pingOnce } from './redis-server.js';
import { waitFor } from './wait-for.js';

export const SENTINEL_MISSING =
  "redis-sentinel is required for this test: install it (Debian: 'sudo apt-get install redis-sentinel'; `npm test` installs it when run as root with apt)";

export interface RedisSentinel {
  readonly host: '127.0.0.1';
  readonly port: number;
  stop(): Promise<void>;
}

/** Throws SENTINEL_MISSING when the binary is not installed. */
export async function startSentinel(options: {
  group: string;
  master: { host: string; port: number };
}): Promise<RedisSentinel> {
  if (spawnSync('redis-sentinel', ['--version']).status !== 0) throw new Error(SENTINEL_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-sentinel-'));
  const port = await freePort();
  const { group, master } = options;
  const config = join(dir, 'sentinel.conf');
  writeFileSync(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${group} ${master.host} ${master.port} 1`,
      `sentinel rename-command ${group} SLAVEOF RBUDDY-TEST-NO-SLAVEOF`,
      `sentinel rename-command ${group} CONFIG RBUDDY-TEST-NO-CONFIG`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-sentinel', [config], { stdio: 'ignore' });
  trackChild(child);
  const stop = async (): Promise<void> => {
    await terminate(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => pingOnce({ host: '127.0.0.1', port }), {
      what: `redis-sentinel on port ${port}`,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: '127.0.0.1', port, stop };
}
