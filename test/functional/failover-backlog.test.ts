// The gate (docs/design.md, "The gate"), the other way a full resync is demanded: the master is healthy, but the active
// was cut off while more was written than the master's backlog holds. When the active PSYNCs
// again the master can only answer +FULLRESYNC; the gate must not relay it (I1), and the
// failover starts at once: the active is promoted and keeps serving, the standby takes the full
// sync, the roles switch, and the new active holds exactly the master's data.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startReader, type Reader } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, info, masterStats, waitForInSync } from '../../harness/replication.js';
import { startTopology, failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertHeldStandby } from '../../harness/held-standby.js';

// A reader left running by a failed assertion would keep the test process alive forever.
const readers: Reader[] = [];

after(async () => {
  await Promise.all(readers.map((reader) => reader.stop()));
  await stopAllRbuddy();
  await stopAllRedis();
});

const BACKLOG_BYTES = 16 * 1024;
/** Written while the active is cut off: far more than the backlog keeps. */
const GAP_VALUES = 100;
const GAP_VALUE_BYTES = 10 * 1024;

test('the active falls out of the backlog: the standby takes the full sync, the active serves', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-backlog-size': BACKLOG_BYTES, 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: [
      // Long enough that only the gate, never the grace period, can start this failover.
      ...failoverTimings({ graceMs: 60000, probeTimeoutMs: 200 }),
    ],
    populate: { megabytes: 4 },
  });
  const master = t.master.client();
  assert.deepEqual(await master.config('GET', 'repl-backlog-size'), [
    'repl-backlog-size',
    String(BACKLOG_BYTES),
  ]);
  await master.set('reader-key', 'reader-value');
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;
  const active = t.active.client();
  const activeKeys = await active.dbsize();
  const activeDigest = await digest(active);
  const statsBefore = await masterStats(master);

  const reader = startReader({
    httpUrl: t.rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  readers.push(reader);
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });

  // Cut the active's link and write past the backlog in ONE transaction: the master runs it
  // atomically, so the active (which reconnects within a second, replicationCron) cannot PSYNC
  // before the gap exists. The active itself is never stopped: it serves reads throughout.
  const gap = master.multi().client('KILL', 'TYPE', 'replica');
  for (let i = 0; i < GAP_VALUES; i += 1) gap.set(`gap:${i}`, `${i}:`.padEnd(GAP_VALUE_BYTES, 'x'));
  const results = await gap.exec();
  assert.ok(results !== null);
  assert.deepEqual(results[0], [null, 1], 'the active (through the proxy) was the one replica');
  assert.ok(GAP_VALUES * GAP_VALUE_BYTES > 10 * BACKLOG_BYTES, 'the gap is far beyond the backlog');

  // The master refuses the active's partial resync; the gate closes the session instead of
  // relaying +FULLRESYNC, and the failover starts at once.
  await waitFor(
    async () => (await masterStats(master)).syncPartialErr > statsBefore.syncPartialErr,
    {
      what: 'the master to refuse the active a partial resync',
    },
  );
  await waitFor(() => t.rbuddy.status().failover !== null, {
    what: 'the failover to start',
  });
  const record = t.rbuddy.status().failover;
  assert.equal(record?.reason, 'the master demanded a full resync of the active');
  assert.equal(record?.outgoing, t.active.address);
  assert.equal(record?.incoming, t.standby.address);
  // I1: the promoted active holds exactly what it had at the cut — no full sync reached it
  // (it would have been emptied, then loaded with the gap). It serves while the standby syncs;
  // the drain after the switch leaves time to look before it is flushed.
  await waitFor(
    () => t.rbuddy.app.events.history().some((event) => event.type === 'active.promoted'),
    { what: 'the active to be promoted' },
  );
  assert.equal((await info(active, 'replication')).role, 'master');
  assert.equal(await active.dbsize(), activeKeys);
  assert.equal(await digest(active), activeDigest);

  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    { what: 'the switch to complete', timeoutMs: 120_000 },
  );
  await waitFor(() => reader.ok >= 150, { what: 'reads after the switch' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [
    `redis://${t.active.address}/`,
    `redis://${t.standby.address}/`,
  ]);

  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address);
  assert.equal(status.standby, t.active.address);
  assert.deepEqual(
    status.lastFailover?.timeline.map((entry) => entry.step),
    ['started', 'standby-attached', 'synced', 'switched', 'flushed', 'standby-ready'],
  );
  const types: string[] = t.rbuddy.app.events.history().map((event) => event.type);
  for (const expected of [
    'active.promoted',
    'standby.attached',
    'standby.synced',
    'failover.completed',
    'standby.ready',
  ]) {
    assert.ok(types.includes(expected), `event ${expected} in ${types.join(', ')}`);
  }
  assert.ok(!types.includes('failover.held'), 'the standby synced a dataset: nothing to hold');
  assert.ok(!types.includes('failover.failed'));

  // The new active holds exactly the master's data, the gap included.
  await waitForInSync(master, t.standby.client());
  assert.equal(await digest(t.standby.client()), await digest(master));
  assert.equal(await t.standby.client().strlen(`gap:${GAP_VALUES - 1}`), GAP_VALUE_BYTES);
  // The old active is the new standby: flushed, held (-MASTERDOWN, -READONLY).
  await assertHeldStandby(t.active.client(), 'on-the-new-standby');
});
