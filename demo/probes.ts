// What the acts wait for and count: rbuddy's status reaching a condition, a replica caught up
// with the master, the keys a server holds.
import type { Redis } from 'ioredis';
import type { AppStatus } from '../src/app.js';
import type { RedisServer } from '../harness/redis-server.js';
import { info } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';
import type { FailoverMonitor } from './monitor.js';
import { DBS, STEP_TIMEOUT_MS } from './settings.js';
import { assertHeldStandby } from '../harness/held-standby.js';
import { message } from './texts.js';

/** Polls /v1/status until `accept` holds; on timeout, says where rbuddy stood. */
export async function untilStatus(
  monitor: FailoverMonitor,
  what: string,
  accept: (status: AppStatus) => boolean,
): Promise<AppStatus> {
  try {
    return await waitFor(
      async () => {
        const status = await monitor.poll();
        return status !== undefined && accept(status) ? status : undefined;
      },
      { what, timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
    );
  } catch (error) {
    const s = monitor.status;
    const where =
      s === undefined
        ? 'no status from rbuddy'
        : `rbuddy ${s.state} (${s.reason ?? 'no reason'}), epoch ${String(s.epoch)}, ` +
          `failover step ${s.failover?.step ?? 'none'}, last error ${s.lastError ?? 'none'}`;
    throw new Error(`${message(error)}; ${where}`, { cause: error });
  }
}

/** Waits until INFO on `replica` says it follows the master's history up to its offset. */
export async function waitForCaughtUp(master: RedisServer, replica: RedisServer): Promise<void> {
  const masterClient = master.client();
  const replicaClient = replica.client();
  try {
    const outcome = await waitFor(
      async () => {
        const m = await info(masterClient, 'replication');
        const r = await info(replicaClient, 'replication');
        const loading = (await info(replicaClient, 'persistence'))['loading'];
        // Waiting would not help: someone (rbuddy) made it a master again.
        if (r['role'] === 'master') return { detached: true };
        return (
          r['master_link_status'] === 'up' &&
          loading === '0' &&
          r['master_replid'] === m['master_replid'] &&
          Number(r['master_repl_offset']) >= Number(m['master_repl_offset'])
        );
      },
      { what: `${replica.name} to catch up with the master`, timeoutMs: STEP_TIMEOUT_MS },
    );
    if (typeof outcome === 'object') {
      throw new Error(`${replica.name} is no longer a replica (role master): it was detached`);
    }
  } finally {
    masterClient.disconnect();
    replicaClient.disconnect();
  }
}

export async function keyCount(server: RedisServer): Promise<number> {
  let keys = 0;
  for (const db of DBS) {
    const conn: Redis = server.client({ db });
    keys += await conn.dbsize();
    conn.disconnect();
  }
  return keys;
}

/**
 * Why the node is not rbuddy's held idle standby (docs/design.md, "Roles and states": an empty
 * replica of rbuddy, link down, reads -MASTERDOWN, writes -READONLY), or undefined when it is.
 */
export async function heldStandby(client: Redis, key: string): Promise<string | undefined> {
  return assertHeldStandby(client, key).then(
    () => undefined,
    (error: unknown) => message(error),
  );
}
