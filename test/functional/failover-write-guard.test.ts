// The write guard must actually hold (docs/design.md, "The write guard"), on real redis-server with replicas configured
// `min-replicas-max-lag 0`: Redis then ignores min-replicas-to-write altogether, so a guard that
// sets only that one lets writes through. Here the promoted active refuses every write
// (-NOREPLICAS), and the idle standby, held as a replica of rbuddy (docs/design.md, "Roles and
// states"), refuses them too (-READONLY) while keeping its own min-replicas settings; a write to
// either would be lost at the next switch or sync. Each node gets its own settings back, exactly,
// when it becomes the active.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { assertWritesRefused, info, waitForInSync } from '../../harness/replication.js';
import { startTopology, failoverTimings, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertHeldStandby } from '../../harness/held-standby.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

const TOKEN = 'test-token-for-write-guard';

/** The replicas' own settings: min-replicas-to-write set, but turned off by a max-lag of 0. */
const OWN = { 'min-replicas-to-write': '3', 'min-replicas-max-lag': '0' };

async function minReplicas(client: Redis): Promise<Record<string, string>> {
  const reply = (await client.config('GET', 'min-replicas-*')) as string[];
  const settings: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) settings[reply[i] ?? ''] = reply[i + 1] ?? '';
  return settings;
}

function waitForEpoch(t: Topology, epoch: number): Promise<boolean> {
  return waitFor(() => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epoch, {
    what: `healthy at epoch ${epoch}`,
    timeoutMs: 120_000,
  });
}

test('min-replicas-max-lag 0: the promoted active (-NOREPLICAS) and the held idle standby (-READONLY) refuse writes; own settings restored exactly', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no' },
    replicaArgs: {
      'min-replicas-to-write': OWN['min-replicas-to-write'],
      'min-replicas-max-lag': OWN['min-replicas-max-lag'],
    },
    rbuddyArgs: [...failoverTimings(), '--http-token', TOKEN],
    populate: { megabytes: 1 },
  });
  const master = t.master.client();
  await master.set('before', 'yes');
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;

  // The idle standby: whatever were written there would be flushed by its next sync. It is held
  // (a replica refusing writes with -READONLY) and carries no guard: its own settings, exactly.
  const standby = t.standby.client();
  await assertHeldStandby(standby, 'written-to-the-idle-standby');
  assert.deepEqual(await minReplicas(standby), OWN);

  // The master dies; the active is promoted and serves reads, and refuses writes.
  await master.save();
  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: 'the active promoted and the standby attached',
  });
  const active = t.active.client();
  assert.equal((await info(active, 'replication')).role, 'master');
  assert.equal(await active.get('before'), 'yes');
  await assertWritesRefused(active, 'written-to-the-promoted-active');

  await t.master.restart();
  await waitForEpoch(t, epochBefore + 1);
  assert.equal(t.rbuddy.status().active, t.standby.address);
  // The new active has its own settings back, exactly, and serves stale reads again.
  assert.deepEqual(await minReplicas(standby), OWN);
  assert.deepEqual(await standby.config('GET', 'replica-serve-stale-data'), [
    'replica-serve-stale-data',
    'yes',
  ]);
  // The old active is flushed and is the held idle standby: it refuses writes (-READONLY). Its
  // own settings are back, the ones saved at the promotion, not our guard.
  await assertHeldStandby(active, 'written-to-the-new-standby');
  assert.deepEqual(await minReplicas(active), OWN);
  // Its replica-serve-stale-data too (Redis's default, yes), set to no while it is held.
  assert.deepEqual(t.rbuddy.status().lastFailover?.savedConfig, {
    ...OWN,
    'replica-serve-stale-data': 'yes',
  });

  // A planned switch back: the old active becomes the active again, with its own settings.
  const planned = await fetch(`${t.rbuddy.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(planned.status, 202, await planned.text());
  await waitForEpoch(t, epochBefore + 2);
  assert.equal(t.rbuddy.status().active, t.active.address);
  await waitForInSync(t.master.client(), active);
  assert.equal(await active.get('before'), 'yes');
  assert.deepEqual(await minReplicas(active), OWN);
  await assertHeldStandby(standby, 'written-to-the-standby-again');
  assert.deepEqual(await minReplicas(standby), OWN);
});
