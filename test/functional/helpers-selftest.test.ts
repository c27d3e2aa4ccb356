// The functional-test helpers, proven against real redis-server with direct replication (no
// proxy): if these pass, a failing proxy test is about the proxy, not about the helpers. Each
// check that a helper can succeed is paired with one proving it can fail.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { isPidAlive } from '../../harness/processes.js';
import { runningRedisServers, startRedis, stopAllRedis } from '../../harness/redis-server.js';
import {
  DigestMismatchError,
  digest,
  info,
  masterStats,
  populate,
  startWriter,
  waitForInSync,
} from '../../harness/replication.js';
import { waitFor, WaitForTimeoutError } from '../../harness/wait-for.js';

after(() => stopAllRedis());

// Redis 7 masters wait repl-diskless-sync-delay (5 s) for more replicas before a diskless full
// sync, sending only keepalive newlines. The first sync test keeps that default (the helpers must
// ride it out); the others skip it to keep the suite fast.
const NO_SYNC_DELAY = { 'repl-diskless-sync-delay': 0 };

void describe('waitFor', () => {
  void test('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), {
      what: 'three calls',
      intervalMs: 1,
    });
    assert.deepEqual(value, { calls: 3 });
  });

  void test('treats a throwing probe as "not yet" and reports its last error at the deadline', async () => {
    const error = await waitFor(
      () => {
        throw new Error('still broken');
      },
      { what: 'a broken thing', timeoutMs: 200, intervalMs: 10 },
    ).catch((e: unknown) => e);
    assert.ok(error instanceof WaitForTimeoutError);
    assert.match(error.message, /^timed out after 200ms waiting for a broken thing/);
    assert.match(error.message, /still broken/);
  });

  void test('a probe that never settles cannot stretch the deadline', async () => {
    // Were the probe awaited, this would never reject.
    await assert.rejects(
      waitFor(() => new Promise<boolean>(() => undefined), {
        what: 'a hung probe',
        timeoutMs: 200,
      }),
      /timed out after 200ms waiting for a hung probe.*still running/,
    );
  });
});

void describe('redis-server processes', () => {
  void test('requirepass, restart from RDB on the same port, pause and resume', async () => {
    const server = await startRedis({
      name: 'lifecycle',
      args: { requirepass: 's3cret', save: '3600 1' },
    });
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    assert.equal(server.password, 's3cret');
    const client = server.client({ db: 3 });
    await client.set('survives', 'restart');
    await client.save();
    const firstPid = server.pid;

    // A crash: no shutdown save, so what comes back is exactly the SAVEd RDB.
    await server.kill9();
    assert.equal(server.exited, true);
    assert.equal(isPidAlive(firstPid), false);
    await server.restart();
    assert.notEqual(server.pid, firstPid);
    assert.equal(server.exited, false);
    // The client from before the crash reconnects by itself to the same port and db.
    assert.equal(
      await waitFor(() => client.get('survives'), { what: 'the key back from the RDB' }),
      'restart',
    );
    assert.match(server.logTail(), /DB loaded from disk/);

    server.pause();
    const paused = server.client({ commandTimeout: 200 });
    await assert.rejects(paused.ping(), /timed out/i);
    server.resume();
    assert.equal(await waitFor(() => paused.ping(), { what: 'PONG after SIGCONT' }), 'PONG');
  });

  void test('an unusable argument fails the start with the reason', async () => {
    await assert.rejects(
      startRedis({ name: 'bad-arg', args: { 'no-such-directive': 'yes' } }),
      /did not start[\s\S]*no-such-directive/,
    );
  });
});

void describe('replication helpers with direct replication', () => {
  void test('a replica converges on a 20 MB dataset over 3 dbs', async () => {
    const master = await startRedis({ name: 'master' });
    const m = master.client();
    await populate(m, { megabytes: 20 });

    const keyspace = await info(m, 'keyspace');
    assert.deepEqual(Object.keys(keyspace).sort(), ['db0', 'db1', 'db2']);
    const used = Number((await info(m, 'memory'))['used_memory']);
    assert.ok(used > 20 * 1024 * 1024, `used_memory ${used} should exceed 20 MiB`);
    const db1 = master.client({ db: 1 });
    for (const [key, type] of [
      ['populate:db1:hash:large', 'hash'],
      ['populate:db1:list:large', 'list'],
      ['populate:db1:set:intset', 'set'],
      ['populate:db1:zset:large', 'zset'],
      ['populate:db1:stream', 'stream'],
      ['populate:db1:geo', 'zset'],
      ['populate:db1:hll:dense', 'string'],
    ] as const) {
      assert.equal(await db1.type(key), type, key);
    }

    const replica = await startRedis({
      name: 'replica',
      args: { replicaof: `127.0.0.1 ${master.port}` },
    });
    const r = replica.client();
    await waitForInSync(m, r, { timeoutMs: 60_000 });

    assert.equal(await digest(r), await digest(m));
    // keys and expires only: avg_ttl is 0 on a replica, whose active expire cycle never runs.
    const counts = (ks: Record<string, string>): string[] =>
      Object.values(ks).map((line) => line.replace(/,avg_ttl=\d+/, ''));
    assert.deepEqual(counts(await info(r, 'keyspace')), counts(keyspace));
    const r1 = replica.client({ db: 1 });
    assert.equal((await r1.getBuffer('populate:db1:str:1mb'))?.length, 1024 * 1024);
    assert.equal(await r1.get('populate:db1:str:empty'), '');
    assert.ok((await r1.ttl('populate:db1:str:ttl')) > 3_600);
    assert.equal((await r1.xpending('populate:db1:stream', 'readers'))[0], 10);
    assert.equal((await masterStats(m)).syncFull, 1);
  });

  void test('a writer running during the sync, then stopped: the replica still converges', async () => {
    const master = await startRedis({ name: 'master-writes', args: NO_SYNC_DELAY });
    const m = master.client();
    await populate(m, { megabytes: 20, dbs: [0, 5] });
    const writer = startWriter(master.client({ db: 5 }), { keyPrefix: 'w' });

    const replica = await startRedis({
      name: 'replica-writes',
      args: { replicaof: `127.0.0.1 ${master.port}` },
    });
    const r = replica.client();
    // Keep writing until the replica has loaded the snapshot and streams the writes made since.
    await waitFor(async () => (await info(r, 'replication'))['master_link_status'] === 'up', {
      what: 'the replica link to come up',
    });
    const startedWith = writer.writes;
    await waitFor(() => writer.writes > startedWith + 500, { what: 'writes after the sync' });
    const writes = await writer.stop();

    assert.ok(writes > 500, `writer acknowledged ${writes} writes`);
    assert.equal(writer.errors, 0);
    await waitForInSync(m, r, { timeoutMs: 60_000 });
    const r5 = replica.client({ db: 5 });
    assert.equal(await r5.get('w:counter:1'), await master.client({ db: 5 }).get('w:counter:1'));
  });

  void test('waitForInSync fails for a replica of another master, and on diverged data', async () => {
    const master = await startRedis({ name: 'master-a', args: NO_SYNC_DELAY });
    const other = await startRedis({ name: 'master-b', args: NO_SYNC_DELAY });
    await populate(master.client(), { megabytes: 1 });
    await populate(other.client(), { megabytes: 1, keyPrefix: 'other' });
    const replicaOfOther = await startRedis({
      name: 'replica-of-b',
      args: { replicaof: `127.0.0.1 ${other.port}` },
    });
    await waitForInSync(other.client(), replicaOfOther.client());

    await assert.rejects(
      waitForInSync(master.client(), replicaOfOther.client(), { timeoutMs: 1_500 }),
      (error: unknown) =>
        error instanceof WaitForTimeoutError && /replid .* master has/.test(error.message),
    );

    // Same replication stream, same offset, different data: only the digest can tell.
    const replica = await startRedis({
      name: 'replica-of-a',
      args: { replicaof: `127.0.0.1 ${master.port}`, 'replica-read-only': 'no' },
    });
    const r = replica.client();
    await waitForInSync(master.client(), r);
    await r.set('written-on-the-replica', 'diverged');
    // A mismatch at equal offsets fails at once, as a DigestMismatchError, not at the deadline.
    const error = await waitForInSync(master.client(), r, { timeoutMs: 30_000 }).catch(
      (e: unknown) => e,
    );
    assert.ok(error instanceof DigestMismatchError, String(error));
    assert.notEqual(error.masterDigest, error.replicaDigest);
  });
});

// Last on purpose: it stops everything the earlier tests started.
void test('stopAllRedis leaves no redis-server process and no temp dir behind', async () => {
  const extra = await startRedis({ name: 'paused-at-the-end' });
  extra.pause();
  const servers = runningRedisServers();
  assert.ok(servers.length >= 2, `expected the earlier servers too, got ${servers.length}`);
  const pids = servers.filter((s) => !s.exited).map((s) => s.pid);
  const dirs = servers.map((s) => s.dir);

  await stopAllRedis();

  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} still alive`);
  }
  for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} still exists`);
  assert.equal(runningRedisServers().length, 0);
});
