// The gate and the data-loss guard (docs/design.md, "The gate", "Roles and states"): the master comes back inside the grace period but WITHOUT its data
// (no persistence: kill -9, restarted empty). The active's PSYNC is answered +FULLRESYNC; the
// gate must close that session (I1: a full sync would empty the active) and fail over at once.
// The standby then syncs the empty dataset, and the data-loss guard (--guard-empty hold, the
// default) holds the switch for an operator: confirm switches to the empty dataset, abort keeps
// the active serving its data with nothing flushed, and a confirm after the standby restarted
// (no longer the process that synced) is refused: the standby is verified again first.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startReader, type Reader } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import {
  assertWritesRefused,
  digest,
  info,
  masterStats,
  waitForInSync,
} from '../../harness/replication.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { startTopology, type Topology, failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

// A reader left running by a failed assertion would keep the test process alive forever.
const readers: Reader[] = [];

after(async () => {
  await Promise.all(readers.map((reader) => reader.stop()));
  await stopAllRbuddy();
  await stopAllRedis();
});

const TOKEN = 'test-token-for-empty-master';

interface Held {
  t: Topology;
  reader: Reader;
  epochBefore: number;
  activeDigest: string;
  activeKeys: number;
  activeMinReplicas: string | undefined;
}

function post(t: Topology, path: string, token?: string): Promise<Response> {
  return fetch(`${t.rbuddy.httpUrl}${path}`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5_000),
  });
}

function eventTypes(t: Topology): string[] {
  return t.rbuddy.app.events.history().map((event) => event.type);
}

/**
 * A healthy topology; the master is killed and restarted empty well inside the grace period;
 * resolves once rbuddy holds the failover, after checking everything up to there.
 */
async function masterBackEmptyAndHeld(): Promise<Held> {
  const t = await startTopology({
    // No `save`: the restarted master is empty, with a new replication id.
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: [
      // Long enough that only the gate, never the grace period, can start this failover.
      ...failoverTimings({ graceMs: 60000, probeTimeoutMs: 200 }),
      '--http-token',
      TOKEN,
    ],
    populate: { megabytes: 2 },
  });
  const master = t.master.client();
  await master.set('reader-key', 'reader-value');
  await t.waitForHealthy();
  const active = t.active.client();
  const activeDigest = await digest(active);
  const activeKeys = await active.dbsize();
  const activeMinReplicas = ((await active.config('GET', 'min-replicas-to-write')) as string[])[1];
  const epochBefore = t.rbuddy.status().epoch ?? -1;
  const reader = startReader({
    httpUrl: t.rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  readers.push(reader);
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });

  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().state === 'master-lost', {
    what: 'rbuddy to see the master lost',
  });
  await t.master.restart();
  assert.equal(await master.dbsize(), 0, 'the master came back empty');

  await waitFor(() => t.rbuddy.status().state === 'held', {
    what: 'the failover to be held',
    timeoutMs: 90_000,
  });
  const status = t.rbuddy.status();
  assert.equal(status.failover?.step, 'held');
  assert.equal(
    status.failover?.reason,
    'the master demanded a full resync of the active',
    'the gate, not the grace period, started the failover',
  );
  assert.equal(status.epoch, epochBefore, 'no switch yet');
  assert.equal(status.active, t.active.address);
  // First the why (empty standby vs. the active's keys), then what the operator may do.
  assert.match(status.reason ?? '', /empty|operator/);
  const types = eventTypes(t);
  for (const expected of [
    'master.down',
    'active.promoted',
    'standby.attached',
    'standby.synced',
    'failover.held',
  ]) {
    assert.ok(types.includes(expected), `event ${expected} in ${types.join(', ')}`);
  }
  assert.ok(!types.includes('failover.completed'));

  // I1: the active never took the full sync the master demanded. Its data is what it was, it is
  // promoted (reads served, writes refused loudly) and no longer attached to anything.
  assert.equal(await active.dbsize(), activeKeys);
  assert.equal(await digest(active), activeDigest);
  assert.equal((await info(active, 'replication')).role, 'master');
  await assertWritesRefused(active, 'written-while-held');
  // The restarted master answered FULLRESYNC to the active (counted in sync_full, refused by
  // the gate) and to the standby; only the standby is its replica.
  assert.ok((await masterStats(master)).syncFull >= 1);
  const masterRepl = await info(master, 'replication');
  assert.equal(masterRepl.connected_slaves, '1');
  assert.match(masterRepl.slave0 ?? '', new RegExp(`port=${t.standby.port},`));
  await waitForInSync(master, t.standby.client());
  assert.equal(await t.standby.client().dbsize(), 0, 'the standby synced the empty dataset');

  // Held means serving: ready, and the reader still reads from the untouched active.
  const readyz = await fetch(`${t.rbuddy.httpUrl}/readyz`);
  assert.equal(readyz.status, 200, await readyz.text());
  const readsAtHold = reader.ok;
  await waitFor(() => reader.ok >= readsAtHold + 20, { what: 'reads while held' });
  assert.equal(reader.failed, 0);
  return { t, reader, epochBefore, activeDigest, activeKeys, activeMinReplicas };
}

test('master back empty, held, then confirmed: switch to the empty dataset', async () => {
  const { t, reader, epochBefore, activeMinReplicas } = await masterBackEmptyAndHeld();

  // Confirming switches to an empty dataset: the key the reader reads disappears on purpose.
  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [`redis://${t.active.address}/`]);

  const noToken = await post(t, '/v1/failover/confirm');
  assert.equal(noToken.status, 401);
  const wrongToken = await post(t, '/v1/failover/confirm', 'not-the-token');
  assert.equal(wrongToken.status, 401);
  assert.equal(t.rbuddy.status().state, 'held', 'refused requests change nothing');

  const confirmed = await post(t, '/v1/failover/confirm', TOKEN);
  assert.equal(confirmed.status, 202, await confirmed.text());
  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    { what: 'the switch to complete', timeoutMs: 60_000 },
  );
  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address, 'the resynced standby is the new active');
  assert.equal(status.standby, t.active.address);
  assert.equal(status.failover, null);
  assert.deepEqual(
    status.lastFailover?.timeline.map((entry) => entry.step),
    ['started', 'standby-attached', 'synced', 'held', 'switched', 'flushed', 'standby-ready'],
  );
  const active = await (await fetch(`${t.rbuddy.httpUrl}/active`)).text();
  assert.equal(active.trim(), `redis://${t.standby.address}/`);

  // The new active follows the master; the old one is flushed, the held idle standby
  // (-MASTERDOWN, -READONLY), its own settings kept for when it is the active again.
  await t.master.client().set('after-confirm', 'yes');
  await waitForInSync(t.master.client(), t.standby.client());
  assert.equal(await t.standby.client().get('after-confirm'), 'yes');
  await assertHeldStandby(t.active.client(), 'on-the-new-standby');
  assert.equal(status.lastFailover?.savedConfig?.['min-replicas-to-write'], activeMinReplicas);
  const types = eventTypes(t);
  assert.ok(types.includes('failover.completed'));
  assert.ok(types.includes('standby.ready'));
});

test('master back empty, held, then aborted: the active keeps serving, nothing flushed', async () => {
  const { t, reader, epochBefore, activeDigest, activeKeys } = await masterBackEmptyAndHeld();

  const noToken = await post(t, '/v1/failover/abort');
  assert.equal(noToken.status, 401);
  assert.equal(t.rbuddy.status().state, 'held');

  const aborted = await post(t, '/v1/failover/abort', TOKEN);
  assert.equal(aborted.status, 202, await aborted.text());
  await waitFor(() => t.rbuddy.status().state === 'degraded', {
    what: 'the failover to be aborted',
  });
  const readsAtAbort = reader.ok;
  await waitFor(() => reader.ok >= readsAtAbort + 20, { what: 'reads after the abort' });

  const status = t.rbuddy.status();
  assert.match(status.reason ?? '', /abort/, `a reason is given: ${String(status.reason)}`);
  assert.equal(status.epoch, epochBefore, 'no switch');
  assert.equal(status.active, t.active.address);
  assert.equal(status.standby, t.standby.address);
  assert.equal(status.failover?.step, 'aborted');
  assert.ok(eventTypes(t).includes('failover.failed'));
  assert.ok(!eventTypes(t).includes('failover.completed'));

  // Nothing flushed: the active holds exactly its data and serves it.
  const active = t.active.client();
  assert.equal(await active.dbsize(), activeKeys);
  assert.equal(await digest(active), activeDigest);
  assert.equal(await active.get('reader-key'), 'reader-value');
  // The standby no longer follows the master: it is held again, the idle standby (a replica of
  // rbuddy whose link is down: -MASTERDOWN, -READONLY).
  await waitFor(
    async () => {
      await assertHeldStandby(t.standby.client(), 'on-the-standby-after-abort');
      return true;
    },
    { what: 'the standby to be held again' },
  );

  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [`redis://${t.active.address}/`]);
});

test('master back empty, held, then the standby restarts: confirm refused (409), nothing flushed, held again only once it synced again', async () => {
  const { t, reader, epochBefore, activeDigest, activeKeys } = await masterBackEmptyAndHeld();
  const standby = t.standby.client();
  const syncedRunId = (await info(standby, 'server')).run_id;
  assert.equal(t.rbuddy.status().failover?.syncedRunId, syncedRunId);

  // The master is held still, so the restarted standby cannot be synced again before the
  // confirm arrives: whatever the timing, there is nothing verified to switch to.
  t.master.pause();
  await t.standby.kill9();
  await t.standby.restart();
  assert.equal(await standby.dbsize(), 0, 'the standby came back empty');
  assert.equal((await info(standby, 'replication')).role, 'master');

  const confirmed = await post(t, '/v1/failover/confirm', TOKEN);
  const body = (await confirmed.json()) as { accepted: boolean; error?: string };
  assert.equal(confirmed.status, 409, JSON.stringify(body));
  assert.equal(body.accepted, false);
  assert.match(body.error ?? '', /standby/, `a reason is given: ${String(body.error)}`);

  // Back to waiting for the standby's sync; never switched, nothing flushed.
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: "back to waiting for the standby's sync",
  });
  const active = t.active.client();
  const status = t.rbuddy.status();
  assert.equal(status.epoch, epochBefore, 'no switch');
  assert.equal(status.active, t.active.address);
  assert.equal(await active.dbsize(), activeKeys);
  assert.equal(await digest(active), activeDigest);
  assert.ok(!eventTypes(t).includes('failover.completed'));
  assert.ok(eventTypes(t).includes('failover.failed'));

  // The master answers again: the new process syncs and is held again, for itself.
  t.master.resume();
  await waitFor(() => t.rbuddy.status().state === 'held', {
    what: 'held again',
    timeoutMs: 90_000,
  });
  const restartedRunId = (await info(standby, 'server')).run_id;
  assert.notEqual(restartedRunId, syncedRunId);
  assert.equal(t.rbuddy.status().failover?.syncedRunId, restartedRunId);
  assert.equal(eventTypes(t).filter((type) => type === 'failover.held').length, 2);
  assert.equal(await active.dbsize(), activeKeys);
  assert.equal(await digest(active), activeDigest);

  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [`redis://${t.active.address}/`]);
});
