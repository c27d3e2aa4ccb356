// A restart of rbuddy (kill -9, then a new process on the same state dir and RESP address) while
// healthy costs no full sync, and the idle standby stays held: its retries are answered
// -NOMASTERLINK by the new process from the first one, so it never syncs and keeps answering
// -MASTERDOWN / -READONLY (docs/design.md, "Restart and reconciliation").
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, killHard, terminate } from '../../harness/processes.js';
import { cliArgs, spawnHealthy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync } from '../../harness/replication.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { waitFor } from '../../harness/wait-for.js';
import { failoverTimings } from '../helpers/topology.js';

const spawned: RbuddyProcess[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(spawned.map((rbuddy) => terminate(rbuddy.child)));
  await stopAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** How many times the standby's log says its PSYNC was answered "retry later". */
function heldRetries(log: string): number {
  return log.split('\n').filter((line) => line.includes('-NOMASTERLINK')).length;
}

test('kill -9 of rbuddy while healthy: no full sync, the idle standby stays held', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master', args: { 'repl-diskless-sync-delay': 0 } }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await master.client().set('reader-key', 'reader-value');
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-held-state-'));
  dirs.push(stateDir);
  const args = cliArgs(
    { master, active, standby },
    {
      listen: `127.0.0.1:${await freePort()}`,
      stateDir,
      extra: [...failoverTimings(), '--log-level', 'debug'],
    },
  );
  const first = await spawnHealthy(args);
  spawned.push(first);
  await waitForInSync(master.client(), active.client());
  await waitFor(() => heldRetries(standby.logTail(100_000)) >= 2, {
    what: 'the idle standby held (its PSYNC answered -NOMASTERLINK)',
  });
  await assertHeldStandby(standby.client(), 'reader-key');
  const before = await masterStats(master.client());

  await killHard(first.child);
  const second = await spawnHealthy(args);
  spawned.push(second);
  const retriesAfterRestart = heldRetries(standby.logTail(100_000));
  await master.client().set('after-the-restart', 'relayed');
  await waitForInSync(master.client(), active.client());
  // The standby asked the new process too, and was held by it.
  await waitFor(() => heldRetries(standby.logTail(100_000)) >= retriesAfterRestart + 2, {
    what: 'the standby held by the new process',
  });
  await assertHeldStandby(standby.client(), 'reader-key');
  assert.equal(await active.client().get('after-the-restart'), 'relayed');
  const stats = await masterStats(master.client());
  assert.equal(stats.syncFull, before.syncFull, 'the restart cost no full sync');
});
