// Checks of the idle standby as rbuddy holds it (docs/design.md, "Roles and states"), for the
// functional tests: such a node answers INFO but neither DBSIZE nor GET (-MASTERDOWN).
import type { Redis } from 'ioredis';
import { info } from './replication.js';

/** Keys over every db, from INFO keyspace: a held standby answers INFO, not DBSIZE. */
export async function keyCount(client: Redis): Promise<number> {
  let keys = 0;
  for (const [name, value] of Object.entries(await info(client, 'keyspace'))) {
    const match = /^db\d+$/.test(name) ? /(?:^|,)keys=(\d+)/.exec(value) : null;
    if (match?.[1] !== undefined) keys += Number(match[1]);
  }
  return keys;
}

/**
 * The node is rbuddy's idle standby as rbuddy holds it (docs/design.md, "Roles and states"): an
 * empty replica, link down, that answers a read -MASTERDOWN and a write -READONLY, and nothing
 * is written.
 */
export async function assertHeldStandby(client: Redis, key: string): Promise<void> {
  const replication = await info(client, 'replication');
  if (replication.role !== 'slave' || replication.master_link_status !== 'down') {
    throw new Error(
      `expected a replica with its link down, got role ${replication.role ?? '?'}, link ${replication.master_link_status ?? '-'}`,
    );
  }
  const keys = await keyCount(client);
  if (keys !== 0) throw new Error(`expected an empty standby, found ${keys} keys`);
  const code = async (command: Promise<unknown>): Promise<string> =>
    command.then(
      () => 'OK',
      (error: unknown) =>
        (error instanceof Error ? error.message : String(error)).split(' ')[0] ?? '',
    );
  const read = await code(client.get(key));
  if (read !== 'MASTERDOWN') throw new Error(`GET ${key}: expected -MASTERDOWN, got ${read}`);
  const write = await code(client.set(key, 'must-not-be-written'));
  if (write !== 'READONLY') throw new Error(`SET ${key}: expected -READONLY, got ${write}`);
}
