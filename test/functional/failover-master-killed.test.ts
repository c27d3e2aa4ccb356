// The reason rbuddy exists (docs/design.md, "Roles and states"): the master is killed (kill -9); the active is promoted and
// keeps serving; the master comes back from its RDB; the standby full-syncs through the proxy;
// the roles switch; the old active is flushed and becomes the standby. A reader following
// GET /active sees zero failed reads over the whole cycle.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { EventType } from '../../src/notify/events.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, info, waitForInSync } from '../../harness/replication.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { WRITE_GUARD } from '../../src/standby/node-ops.js';
import { startTopology, failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

after(async () => {
  await stopAllReaders();
  await stopAllRbuddy();
  await stopAllRedis();
});

test('master killed: promote, resync the standby, switch — zero failed reads', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no' },
    rbuddyArgs: [...failoverTimings()],
    populate: { megabytes: 20 },
  });
  const master = t.master.client();
  await master.set('reader-key', 'reader-value');
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;
  const activeMinReplicas = (await t.active.client().config('GET', 'min-replicas-to-write')) as [
    string,
    string,
  ];

  const reader = startReader({
    httpUrl: t.rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });

  await master.save();
  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: 'the active to be promoted and the standby attached',
  });
  const promoted = await info(t.active.client(), 'replication');
  assert.equal(promoted.role, 'master', 'the active was promoted');
  const guard = (await t.active.client().config('GET', 'min-replicas-*')) as string[];
  assert.deepEqual(
    Object.fromEntries([0, 2].map((i) => [guard[i], guard[i + 1]])),
    WRITE_GUARD,
    'writes guarded',
  );
  await assert.rejects(t.active.client().set('during-failover', 'x'), /NOREPLICAS/);
  await waitFor(() => reader.ok >= 60, { what: 'reads while the master is away' });

  await t.master.restart();
  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    {
      what: 'the switch to complete',
      timeoutMs: 120_000,
    },
  );
  await waitFor(() => reader.ok >= 120, { what: 'reads after the switch' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [
    `redis://${t.active.address}/`,
    `redis://${t.standby.address}/`,
  ]);

  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address);
  assert.equal(status.standby, t.active.address);
  await waitForInSync(t.master.client(), t.standby.client());
  assert.equal(await digest(t.standby.client()), await digest(t.master.client()));
  // The old active: flushed, the held idle standby (-MASTERDOWN, -READONLY), its own settings
  // kept.
  const old = t.active.client();
  await assertHeldStandby(old, 'on-the-new-standby');
  assert.equal(status.lastFailover?.savedConfig?.['min-replicas-to-write'], activeMinReplicas[1]);
  const types = t.rbuddy.app.events.history().map((event) => event.type);
  // The standby waiting for the master is not a failure; one cycle is one switch.
  assert.ok(!types.includes('failover.failed'), `no failover.failed in ${types.join(', ')}`);
  assert.equal(types.filter((type) => type === 'failover.completed').length, 1);
  assert.equal(types.filter((type) => type === 'active.promoted').length, 1);
  const expectedTypes: EventType[] = [
    'master.down',
    'active.promoted',
    'standby.attached',
    'standby.synced',
    'failover.completed',
    'standby.ready',
  ];
  for (const expected of expectedTypes) {
    assert.ok(types.includes(expected), `event ${expected} in ${types.join(', ')}`);
  }
  assert.deepEqual(
    status.lastFailover?.timeline.map((entry) => entry.step),
    ['started', 'standby-attached', 'synced', 'switched', 'flushed', 'standby-ready'],
  );
});
