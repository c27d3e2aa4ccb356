// docs/design.md, "Restart and reconciliation": a state dir restored from a backup taken before a
// planned switch names the old roles: the node it calls the active was flushed and held since,
// the node it calls the idle standby serves the data. rbuddy is stopped, the old state.json put
// back, and rbuddy started again with the very same flags, while a reader follows GET /active. The
// node with the data is never held, detached or flushed, and goes on with +CONTINUE (no full
// sync); the empty node is never promoted nor named; no read answers nil; the nodes' roles are
// adopted (epoch 1, announced by failover.completed).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { freePort } from '../../harness/processes.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, info, masterStats, waitForInSync } from '../../harness/replication.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';
import { waitFor } from '../../harness/wait-for.js';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { failoverTimings, startTopology } from '../helpers/topology.js';

const TOKEN = 'restored-state-t0ken';
const dirs: string[] = [];

after(async () => {
  await stopAllReaders();
  await stopAllRbuddy();
  await stopAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** How many times a command ran on a node since its last CONFIG RESETSTAT. */
async function calls(client: Redis, command: string): Promise<number> {
  const line = (await info(client, 'commandstats'))[`cmdstat_${command}`];
  return line === undefined ? 0 : Number(/(?:^|,)calls=(\d+)/.exec(line)?.[1] ?? NaN);
}

test('the state file from before a planned switch put back: the node with the data is adopted, never held or flushed; the empty one never named', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-restored-state-'));
  dirs.push(stateDir);
  const stateFile = join(stateDir, 'state.json');
  // Fixed ports: the replicas follow the same announce address across the restart, and the
  // reader asks the same admin address.
  const httpPort = await freePort();
  const args = [
    ...['--listen', `127.0.0.1:${await freePort()}`, '--http', `127.0.0.1:${httpPort}`],
    ...['--state-dir', stateDir, '--http-token', TOKEN],
    ...failoverTimings({ drainMs: 200 }),
  ];
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: args,
    populate: { megabytes: 1 },
  });
  const master = t.master.client();
  await master.set('restored:key', 'value');
  await t.waitForHealthy();
  const backup = readFileSync(stateFile, 'utf8');
  assert.equal((JSON.parse(backup) as { active: string }).active, t.active.address);

  await requestPlannedSwitch(t.rbuddy.httpUrl, TOKEN);
  await waitFor(
    () => {
      const status = t.rbuddy.status();
      return status.state === 'healthy' && status.failover === null && status.epoch === 1;
    },
    { what: 'the planned switch to complete', timeoutMs: 120_000 },
  );
  const withData = t.standby;
  const empty = t.active;
  await waitForInSync(master, withData.client());
  await t.rbuddy.close();

  // The backup is put back; rbuddy starts again with the same flags.
  writeFileSync(stateFile, backup);
  for (const node of [withData, empty]) await node.client().config('RESETSTAT');
  const keysBefore = await withData.client().dbsize();
  const emptyReplid = (await info(empty.client(), 'replication')).master_replid;
  const syncFullBefore = (await masterStats(master)).syncFull;
  const reader = startReader({
    httpUrl: `http://127.0.0.1:${httpPort}`,
    key: 'restored:key',
    expected: 'value',
  });
  const rbuddy = await startRbuddy({
    master: t.master.address,
    active: t.active.address,
    standby: t.standby.address,
    args,
  });
  await waitFor(
    () => {
      const status = rbuddy.status();
      return status.state === 'healthy' && status.epoch === 1 && status.active === withData.address
        ? status
        : undefined;
    },
    {
      what: 'healthy, the node with the data adopted as the active',
      timeoutMs: 60_000,
      explain: () => JSON.stringify(rbuddy.status()),
    },
  );
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the adoption' });
  const result = await reader.stop();

  // Never an empty answer, never the empty node named; reads fail only while rbuddy was down.
  assert.equal(result.nil, 0, result.errors.join('; '));
  assert.deepEqual(result.actives, [`redis://${withData.address}/`]);
  assert.ok(
    !result.errors.some((error) => /MASTERDOWN/.test(error)),
    `the node with the data was never held: ${result.errors.join('; ')}`,
  );

  // The node with the data: not touched (no REPLICAOF, no CONFIG SET, no FLUSHALL), continued.
  assert.equal(await calls(withData.client(), 'flushall'), 0);
  assert.equal(await calls(withData.client(), 'replicaof'), 0, 'never held nor detached');
  assert.equal(await calls(withData.client(), 'config|set'), 0, 'its settings untouched');
  await master.set('after-the-restart', 'relayed');
  await waitForInSync(master, withData.client());
  assert.equal(await withData.client().dbsize(), keysBefore + 1);
  assert.equal(await digest(withData.client()), await digest(master));
  assert.equal((await masterStats(master)).syncFull, syncFullBefore, 'no full sync');

  // The empty node: never promoted (same replication id), still the held idle standby.
  assert.equal((await info(empty.client(), 'replication')).master_replid, emptyReplid);
  await assertHeldStandby(empty.client(), 'restored:key');

  // The roles adopted and announced, on disk first.
  const persisted = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
  assert.equal(persisted.epoch, 1);
  assert.equal(persisted.active, withData.address);
  assert.equal(persisted.standby, empty.address);
  const completed = rbuddy.app.events
    .history()
    .filter((event) => event.type === 'failover.completed');
  assert.equal(completed.length, 1);
  assert.equal(completed[0]?.epoch, 1);
  assert.equal(completed[0]?.data.active, withData.address);
  assert.equal(completed[0]?.data.previousActive, empty.address);
});
