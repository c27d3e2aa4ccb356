// A planned switch (docs/design.md, "Roles and states"): POST /v1/failover while the master is healthy. The standby
// full-syncs through the proxy while the active keeps streaming, then the roles switch and the
// old active is drained, flushed and restored as the new standby. Writes keep landing on the
// master, and a reader following GET /active sees zero failed reads. The endpoint needs the
// bearer token (401 without it, 403 when none is configured) and a healthy state (409 otherwise).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { EventType } from '../../src/notify/events.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startReader } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, startWriter, waitForInSync } from '../../harness/replication.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'planned-failover-t0ken';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

async function post(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers,
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function getText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200, `GET ${url}`);
  return (await response.text()).trim();
}

test('POST /v1/failover while the master is healthy: roles swap, zero failed reads, writes continue', async () => {
  const t = await startTopology({
    // Diskless syncs start at once (the default waits 5 s for more replicas to join).
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    // Non-default settings on the replicas, so that "restored" cannot pass by accident.
    replicaArgs: { 'min-replicas-max-lag': 17 },
    rbuddyArgs: [
      '--http-token',
      TOKEN,
      '--drain-ms',
      '1000',
      '--probe-interval-ms',
      '200',
      '--probe-timeout-ms',
      '200',
    ],
    populate: { megabytes: 10 },
  });
  const master = t.master.client();
  await master.set('reader-key', 'reader-value');
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;
  const activeConfigBefore = (await t.active.client().config('GET', 'min-replicas-*')) as string[];
  const failoverUrl = `${t.rbuddy.httpUrl}/v1/failover`;

  // Without the right token nothing is started.
  const missing = await post(failoverUrl);
  assert.equal(missing.status, 401);
  const wrong = await post(failoverUrl, { authorization: 'Bearer not-the-token' });
  assert.equal(wrong.status, 401);
  // confirm/abort need a held failover.
  const confirm = await post(`${failoverUrl}/confirm`, { authorization: `Bearer ${TOKEN}` });
  assert.equal(confirm.status, 409);
  assert.equal(t.rbuddy.status().failover, null);
  assert.equal(t.rbuddy.status().state, 'healthy');

  const reader = startReader({
    httpUrl: t.rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  const writer = startWriter(master, { keyPrefix: 'planned', intervalMs: 5, batchSize: 20 });
  await waitFor(() => reader.ok >= 20 && writer.writes > 0, {
    what: 'the reader to read and the writer to write',
  });

  const accepted = await post(failoverUrl, { authorization: `Bearer ${TOKEN}` });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const writesAtRequest = writer.writes;

  // While the failover runs (until the old active is retired, drain-ms after the switch) a second
  // request is refused.
  await waitFor(() => t.rbuddy.status().failover !== null, { what: 'the failover to start' });
  const again = await post(failoverUrl, { authorization: `Bearer ${TOKEN}` });
  assert.equal(again.status, 409, JSON.stringify(again.body));
  assert.equal(t.rbuddy.status().failover?.kind, 'planned');

  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().failover === null,
    { what: 'the planned switch to complete', timeoutMs: 120_000 },
  );
  const writesAtSwitch = writer.writes;
  await waitFor(() => writer.writes > writesAtSwitch, { what: 'writes after the switch' });
  const readsAfterSwitch = reader.ok;
  await waitFor(() => reader.ok >= readsAfterSwitch + 20, { what: 'reads after the switch' });
  const writes = await writer.stop();
  const result = await reader.stop();

  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [
    `redis://${t.active.address}/`,
    `redis://${t.standby.address}/`,
  ]);
  assert.equal(writer.errors, 0, 'no write to the master failed');
  assert.ok(writesAtSwitch > writesAtRequest, 'writes landed during the switch');

  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address);
  assert.equal(status.standby, t.active.address);
  assert.equal(status.epoch, epochBefore + 1);
  assert.equal(await getText(`${t.rbuddy.httpUrl}/active`), `redis://${t.standby.address}/`);
  assert.equal(await getText(`${t.rbuddy.httpUrl}/standby`), `redis://${t.active.address}/`);

  // The new active holds exactly the master's data, every write included.
  await waitForInSync(master, t.standby.client());
  assert.equal(await digest(t.standby.client()), await digest(master));
  assert.equal(await t.standby.client().get('reader-key'), 'reader-value');
  assert.ok(writes > 0);

  // The old active: flushed, the held idle standby (-MASTERDOWN, -READONLY), its own settings
  // kept for when it is the active again. The new active has its own settings back.
  const old = t.active.client();
  await assertHeldStandby(old, 'on-the-new-standby');
  // CONFIG GET lists a pattern's settings in no fixed order (it walks a dict): compare them as
  // name → value, not as arrays.
  const settings = (pairs: unknown): Record<string, unknown> => {
    assert.ok(Array.isArray(pairs) && pairs.length % 2 === 0, `CONFIG GET pairs: ${String(pairs)}`);
    const list: unknown[] = pairs;
    const entries: [string, unknown][] = [];
    for (let i = 0; i < list.length; i += 2) entries.push([String(list[i]), list[i + 1]]);
    return Object.fromEntries(entries);
  };
  // Its replica-serve-stale-data too (yes, Redis's default here), set to no while it is held.
  assert.deepEqual(status.lastFailover?.savedConfig, {
    ...settings(activeConfigBefore),
    'replica-serve-stale-data': 'yes',
  });
  assert.deepEqual(
    settings(await t.standby.client().config('GET', 'min-replicas-*')),
    settings(activeConfigBefore),
  );
  // The new active serves stale reads again if the master goes away.
  assert.deepEqual(settings(await t.standby.client().config('GET', 'replica-serve-stale-data')), {
    'replica-serve-stale-data': 'yes',
  });

  assert.equal(status.lastFailover?.kind, 'planned');
  assert.equal(status.lastFailover?.result, 'completed');
  assert.deepEqual(
    status.lastFailover?.timeline.map((entry) => entry.step),
    ['started', 'standby-attached', 'synced', 'switched', 'flushed', 'standby-ready'],
  );
  const types = t.rbuddy.app.events.history().map((event) => event.type);
  const expectedTypes: EventType[] = [
    'standby.attached',
    'standby.synced',
    'failover.completed',
    'standby.ready',
  ];
  for (const expected of expectedTypes) {
    assert.ok(types.includes(expected), `event ${expected} in ${types.join(', ')}`);
  }
  // The master never went away: no promotion, no master loss.
  const unexpectedTypes: EventType[] = ['master.down', 'active.promoted', 'failover.failed'];
  for (const unexpected of unexpectedTypes) {
    assert.ok(!types.includes(unexpected), `no ${unexpected} in ${types.join(', ')}`);
  }
});

test('with no --http-token configured, POST /v1/failover is refused (403) and nothing starts', async () => {
  const t = await startTopology({ masterArgs: { 'repl-diskless-sync-delay': 0 } });
  await t.waitForHealthy();
  for (const path of ['/v1/failover', '/v1/failover/confirm', '/v1/failover/abort']) {
    const bare = await post(`${t.rbuddy.httpUrl}${path}`);
    assert.equal(bare.status, 403, path);
    const withToken = await post(`${t.rbuddy.httpUrl}${path}`, {
      authorization: 'Bearer anything',
    });
    assert.equal(withToken.status, 403, path);
  }
  const status = t.rbuddy.status();
  assert.equal(status.state, 'healthy');
  assert.equal(status.failover, null);
  assert.equal(status.active, t.active.address);
});
