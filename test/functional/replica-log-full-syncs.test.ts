// The full syncs a real redis-server replica logs, read as the chaos run reads them
// (harness/redis-log.ts): every full sync, however fast, with its PID and what the process held
// before; no partial resync; a restart is a new process. The log format is Redis's, not ours:
// this is where a change of it would show.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FullSyncLog, LogFollower, type FullSync } from '../../harness/redis-log.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';

after(() => stopAllRedis());

/** No 5 s wait before a diskless sync (7.0's default), so the test's syncs are quick. */
const QUICK = { 'repl-diskless-sync-delay': 0 };

async function linkedTo(replica: RedisServer, master: RedisServer): Promise<void> {
  const client = replica.client();
  await waitFor(
    async () => {
      const replication = await info(client, 'replication');
      return (
        replication.master_port === String(master.port) && replication.master_link_status === 'up'
      );
    },
    { what: `${replica.name} linked to ${master.name}`, timeoutMs: 30_000 },
  );
}

test("a replica's log: each full sync with its PID and keys, no partial resync, restarts apart", async () => {
  const master = await startRedis({ name: 'master', args: QUICK });
  const replica = await startRedis({ name: 'replica' });
  const follower = new LogFollower(join(replica.dir, 'redis.log'));
  const log = new FullSyncLog();
  const read = (): FullSync[] => log.push(follower.readLines());
  const pid = (server: RedisServer): Promise<number> =>
    info(server.client(), 'server').then((fields) => Number(fields.process_id));

  assert.deepEqual(read(), [], 'its start is no sync');
  await master.client().call('DEBUG', 'POPULATE', '2000');
  await replica.client().call('REPLICAOF', master.host, String(master.port));
  await linkedTo(replica, master);
  const [first, ...more] = read();
  assert.deepEqual(more, []);
  assert.equal(first?.pid, await pid(replica));
  assert.equal(first?.keysLoaded, 2000);
  assert.ok(first.flushedAt !== undefined && first.finishedAt !== undefined);
  assert.ok(first.at <= first.flushedAt && first.flushedAt <= first.finishedAt);
  assert.equal(log.heldBefore(first)?.keys, 0, 'it started empty');

  // The link cut: the replica continues with a partial resync, which flushes nothing.
  await replica.client().call('CLIENT', 'KILL', 'TYPE', 'master');
  await waitFor(
    async () => {
      const synced = await info(master.client(), 'stats');
      return Number(synced.sync_partial_ok) >= 1;
    },
    { what: 'the partial resync', timeoutMs: 30_000 },
  );
  await linkedTo(replica, master);
  assert.deepEqual(read(), [], 'a partial resync is no full sync');

  // A master of another history: a full sync of the same data, which no sample would notice.
  const decoy = await startRedis({ name: 'decoy', args: QUICK });
  await decoy.client().call('REPLICAOF', master.host, String(master.port));
  await linkedTo(decoy, master);
  await decoy.client().call('REPLICAOF', 'NO', 'ONE');
  await decoy.client().call('DEBUG', 'CHANGE-REPL-ID');
  await replica.client().call('REPLICAOF', decoy.host, String(decoy.port));
  await linkedTo(replica, decoy);
  const [second] = read();
  assert.ok(second !== undefined, 'the full sync from the decoy is in the log');
  assert.equal(second.pid, first.pid);
  assert.equal(second.keysLoaded, 2000);
  assert.deepEqual(log.heldBefore(second), { at: first.finishedAt, keys: 2000 });

  // kill -9 and started again with its dump.rdb: a new process that held keys before any sync.
  await replica.client().call('SAVE');
  await replica.kill9();
  await replica.restart();
  await replica.client().call('REPLICAOF', master.host, String(master.port));
  await linkedTo(replica, master);
  const syncs = read();
  const third = syncs.at(-1);
  assert.ok(third !== undefined, `a full sync after the restart: ${JSON.stringify(syncs)}`);
  assert.equal(third.pid, await pid(replica));
  assert.notEqual(third.pid, first.pid);
  assert.equal(log.heldBefore(third)?.keys, 2000, 'what it loaded from its dump.rdb at start');
});
