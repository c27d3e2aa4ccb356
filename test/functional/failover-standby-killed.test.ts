// I2 and I4 (docs/design.md): the standby is killed (kill -9) halfway through its full sync. The failover
// reports `failover.failed` and keeps trying; the promoted active is never flushed and keeps
// serving (a reader following GET /active sees zero failed reads); once the standby is back —
// empty, with no REPLICAOF — rbuddy attaches it again and the failover completes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { digest, info, populate, waitForInSync } from '../../harness/replication.js';
import { keyCount } from '../../harness/held-standby.js';
import { failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

after(async () => {
  await stopAllReaders();
  await stopAllRbuddy();
  await stopAllRedis();
});

async function flushallCalls(client: Redis): Promise<number> {
  const line = (await info(client, 'commandstats'))['cmdstat_flushall'];
  if (line === undefined) return 0;
  return Number(/(?:^|,)calls=(\d+)/.exec(line)?.[1] ?? NaN);
}

test('standby killed mid-sync: failover.failed, the active serves on, the failover completes', async (t) => {
  // The restarted master streams its snapshot slowly (diskless, a delay per key), so the standby
  // can be killed with its transfer half done. The delay is off until the master restarts.
  const [master, active, standby] = await Promise.all([
    startRedis({
      name: 'master',
      args: {
        'repl-diskless-sync': 'yes',
        'repl-diskless-sync-delay': 0,
        'rdb-key-save-delay': 200,
      },
    }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const masterClient = master.client();
  await masterClient.config('SET', 'rdb-key-save-delay', '0');
  await populate(masterClient, { megabytes: 2, valueBytes: 100 });
  await masterClient.set('reader-key', 'reader-value');
  const rbuddy = await startRbuddy({
    master: master.address,
    active: active.address,
    standby: standby.address,
    args: [...failoverTimings(), '--command-timeout-ms', '2000'],
  });
  await waitFor(() => rbuddy.status().state === 'healthy', {
    what: 'rbuddy healthy',
    timeoutMs: 60_000,
  });
  await waitForInSync(masterClient, active.client());
  const epochBefore = rbuddy.status().epoch ?? -1;
  const standbySession = () =>
    rbuddy.status().sessions.find((session) => session.replica === standby.address);
  // Events since a point in history (the bus keeps the last 100; this test emits far fewer).
  const eventsSince = (index: number) => rbuddy.app.events.history().slice(index);

  const reader = startReader({
    httpUrl: rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  // Its loop must end even when an assertion fails half-way.
  t.after(() => reader.stop());
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });

  await masterClient.save();
  await master.kill9();
  await waitFor(() => rbuddy.status().failover?.step === 'syncing', {
    what: 'the active promoted and the standby attached',
  });
  await master.restart();
  await waitFor(
    () => {
      const session = standbySession();
      return session?.phase === 'snapshot' && (session.snapshot?.transferred ?? 0) > 0;
    },
    { what: "the standby's snapshot half transferred", timeoutMs: 60_000 },
  );
  const killedAt = rbuddy.app.events.history().length;
  await standby.kill9();

  const failed = await waitFor(
    () => eventsSince(killedAt).find((event) => event.type === 'failover.failed'),
    { what: 'a failover.failed event after the kill' },
  );
  assert.match(String(failed.data.reason), /standby.*retrying/);
  // Nothing switched, nothing flushed: the promoted active keeps serving its dataset.
  const during = rbuddy.status();
  assert.equal(during.state, 'failing-over');
  assert.equal(during.active, active.address);
  assert.equal(during.epoch, epochBefore);
  const readsAtKill = reader.ok;
  await waitFor(() => reader.ok >= readsAtKill + 50, { what: 'reads while the standby is down' });
  assert.equal(await flushallCalls(active.client()), 0, 'the active was not flushed');
  assert.ok((await active.client().dbsize()) > 0);
  assert.equal(rbuddy.status().state, 'failing-over', 'still waiting for the standby');

  // Back empty (no persistence) and a master (its config has no REPLICAOF): rbuddy attaches it.
  await standby.restart();
  await waitFor(
    () => rbuddy.status().state === 'healthy' && rbuddy.status().epoch === epochBefore + 1,
    { what: 'the failover to complete', timeoutMs: 120_000 },
  );
  const readsAtSwitch = reader.ok;
  await waitFor(() => reader.ok >= readsAtSwitch + 20, { what: 'reads after the switch' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [`redis://${active.address}/`, `redis://${standby.address}/`]);

  const status = rbuddy.status();
  assert.equal(status.active, standby.address);
  assert.equal(status.standby, active.address);
  await waitForInSync(masterClient, standby.client());
  assert.equal(await digest(standby.client()), await digest(masterClient));
  assert.equal(await flushallCalls(standby.client()), 0, 'the new active was never flushed');
  assert.equal(await keyCount(active.client()), 0, 'the old active was flushed after the switch');
  assert.equal(await flushallCalls(active.client()), 1, 'exactly once');

  // Order of events: the failure, a second attach (the retry), then the completion.
  const types = eventsSince(killedAt).map((event) => event.type);
  const failedAt = types.indexOf('failover.failed');
  const completedAt = types.indexOf('failover.completed');
  assert.ok(failedAt >= 0 && completedAt > failedAt, `events: ${types.join(', ')}`);
  assert.ok(
    types.slice(failedAt, completedAt).includes('standby.attached'),
    `the standby re-attached after the failure: ${types.join(', ')}`,
  );
  const switches = rbuddy.app.events.history().filter((e) => e.type === 'failover.completed');
  assert.equal(switches.length, 1, 'one switch');
});
