// The data-loss guard (docs/design.md, "Roles and states"), beyond an empty result: the master dies and comes back from an old RDB with a
// tenth of the data (100 keys of 1000). --guard-empty sees a non-empty standby and would let it
// replace the active, whose 1000 keys would then be flushed. --guard-shrink (default 0.5) holds
// the switch for an operator, naming both counts; with --guard-shrink 0 it switches.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, waitForInSync } from '../../harness/replication.js';
import { keyCount } from '../../harness/held-standby.js';
import { startTopology, failoverTimings, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

async function setKeys(master: Redis, from: number, to: number): Promise<void> {
  const pipeline = master.pipeline();
  for (let i = from; i < to; i += 1) pipeline.set(`key:${i}`, `value:${i}`);
  await pipeline.exec();
}

/**
 * A healthy topology whose active holds 1000 keys; the master is killed and comes back from an
 * RDB saved when it had 100. Resolves once the failover is held or has switched.
 */
async function masterBackWithATenth(rbuddyArgs: string[]): Promise<{
  t: Topology;
  epochBefore: number;
  activeDigest: string;
}> {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: [...failoverTimings(), ...rbuddyArgs],
  });
  const master = t.master.client();
  await setKeys(master, 0, 100);
  await master.save();
  await setKeys(master, 100, 1000);
  await t.waitForHealthy();
  const active = t.active.client();
  await waitForInSync(master, active);
  assert.equal(await active.dbsize(), 1000);
  const activeDigest = await digest(active);
  const epochBefore = t.rbuddy.status().epoch ?? -1;

  await t.master.kill9();
  await t.master.restart();
  assert.equal(await master.dbsize(), 100, 'the master came back from its old RDB');
  await waitFor(
    () => t.rbuddy.status().state === 'held' || (t.rbuddy.status().epoch ?? -1) > epochBefore,
    { what: 'the failover held or switched', timeoutMs: 90_000 },
  );
  return { t, epochBefore, activeDigest };
}

test('master back with a tenth of the keys: held, naming both counts; the active keeps its 1000', async () => {
  const { t, epochBefore, activeDigest } = await masterBackWithATenth([]);
  const status = t.rbuddy.status();
  assert.equal(status.state, 'held', `state ${status.state}: ${String(status.reason)}`);
  assert.equal(status.epoch, epochBefore, 'no switch');
  assert.equal(status.active, t.active.address);
  assert.match(status.reason ?? '', /100 keys, fewer than 0\.5 of the active's 1000/);
  const held = t.rbuddy.app.events.history().find((event) => event.type === 'failover.held');
  assert.equal(held?.data.activeKeys, 1000);
  assert.equal(held?.data.standbyKeys, 100);
  assert.match(String(held?.data.reason), /--guard-shrink/);
  assert.equal(await t.standby.client().dbsize(), 100, 'the standby synced what the master has');
  const active = t.active.client();
  assert.equal(await active.dbsize(), 1000);
  assert.equal(await digest(active), activeDigest);
});

test('--guard-shrink 0: the same master switches, and the old active is flushed', async () => {
  const { t, epochBefore } = await masterBackWithATenth(['--guard-shrink', '0']);
  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    { what: 'the switch to complete', timeoutMs: 60_000 },
  );
  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address);
  assert.equal(await t.standby.client().dbsize(), 100);
  assert.ok(!t.rbuddy.app.events.history().some((event) => event.type === 'failover.held'));
  await waitFor(async () => (await keyCount(t.active.client())) === 0, {
    what: 'the old active flushed',
  });
});
