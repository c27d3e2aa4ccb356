// Act 1: a master and two replicas, each a redis-server of its own on an ephemeral port.
import type { Redis } from 'ioredis';
import { startRedis, type RedisArgs, type RedisServer } from '../../harness/redis-server.js';
import { info } from '../../harness/replication.js';
import type { Replica } from '../monitor.js';
import { owned, term } from '../run-state.js';

/** The servers of the story and a client of each, from act 1 to the end. */
export interface Nodes {
  master: RedisServer;
  server1: RedisServer;
  server2: RedisServer;
  masterClient: Redis;
  client1: Redis;
  client2: Redis;
  /** replica1, the active at the start; replica2, the standby. */
  r1: Replica;
  r2: Replica;
}

/** `masterArgs`: more of the master's settings (`--ha`: its replication backlog). */
export async function startNodes(masterArgs: RedisArgs = {}): Promise<Nodes> {
  term.heading('1. Start a master and two replicas');
  const [master, server1, server2] = await Promise.all([
    startRedis({
      name: 'master',
      // A disk snapshot (not diskless) without LZF compression: what crosses the wire is the
      // real size of the dataset, and its `$<len>` header lets rbuddy show progress against it.
      // `save` makes it a master that persists: it comes back from its RDB after the crash.
      args: { 'repl-diskless-sync': 'no', rdbcompression: 'no', save: '3600 1', ...masterArgs },
    }),
    startRedis({ name: 'replica1' }),
    startRedis({ name: 'replica2' }),
  ]);
  const servers = [master, server1, server2];
  owned.servers.push(...servers);
  for (const server of servers) {
    owned.pids.push({ what: `redis-server ${server.name}`, pid: server.pid });
  }
  const masterClient = master.client();
  const version = (await info(masterClient, 'server'))['redis_version'] ?? '?';
  for (const server of servers) {
    term.line(
      `  ${server.name.padEnd(8)} redis-server ${version} on ${server.address} (pid ${server.pid})`,
    );
  }
  const r1: Replica = { name: 'replica1', address: server1.address, colour: 'cyan' };
  const r2: Replica = { name: 'replica2', address: server2.address, colour: 'magenta' };
  const client1 = server1.client();
  const client2 = server2.client();
  return { master, server1, server2, masterClient, client1, client2, r1, r2 };
}
