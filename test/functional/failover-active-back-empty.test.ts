// An active killed (kill -9) that restarts empty (no dump.rdb) comes back a plain master with no
// keys. rbuddy replaces it by the standby; meanwhile a client that reads the active's address
// (one that follows rbuddy and has not moved yet, or a direct client) must get errors, never a
// nil for a key that exists: rbuddy holds the empty node as it holds the idle standby
// (docs/design.md, "Roles and states"), and the switch proceeds as for any failover.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { getOnce } from '../helpers/get-once.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { explainTopology, failoverTimings, startTopology } from '../helpers/topology.js';

const KEY = 'back-empty-key';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('an active back empty answers errors, never nils, until the standby replaces it', async () => {
  const t = await startTopology({ rbuddyArgs: failoverTimings(), populate: { megabytes: 1 } });
  await t.master.client().set(KEY, 'value');
  await t.waitForHealthy();
  await waitForInSync(t.master.client(), t.active.client());
  const explain = (): string => explainTopology(t.rbuddy, [t.master, t.active, t.standby]);

  await t.active.kill9();
  // A replica writes the snapshot it loads to dump.rdb even with `save ""`
  // (`readSyncBulkPayload` in replication.c): without it the node restarts empty.
  rmSync(join(t.active.dir, 'dump.rdb'), { force: true });

  // Reads the active's address from before its port opens until the failover is over. Until
  // rbuddy's first look at the restarted node (one engine round) it is a plain empty master that
  // nothing can have told otherwise: those reads are counted apart (`beforeHeld`).
  const switched = (): boolean =>
    t.rbuddy.app.events.history().some((event) => event.type === 'failover.completed');
  const beforeHeld = new Map<string, number>();
  const afterHeld = new Map<string, number>();
  let heldBeforeSwitch = false;
  let reading = true;
  const reader = (async () => {
    while (reading) {
      const answer = await getOnce(t.active, KEY);
      const kind = answer.startsWith('-') ? (answer.split(' ')[0] ?? answer) : answer;
      if (kind === '-MASTERDOWN' && afterHeld.size === 0) heldBeforeSwitch = !switched();
      const counts = kind === '-MASTERDOWN' || afterHeld.size > 0 ? afterHeld : beforeHeld;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      if (kind.startsWith('conn:')) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  try {
    await t.active.restart();
    await waitFor(
      () =>
        t.rbuddy.app.events.history().some((event) => event.type === 'standby.ready') &&
        t.rbuddy.status().state === 'healthy',
      { what: 'the failover to complete', timeoutMs: 120_000, explain },
    );
  } finally {
    reading = false;
    await reader;
  }
  const summary = JSON.stringify({
    beforeHeld: Object.fromEntries(beforeHeld),
    afterHeld: Object.fromEntries(afterHeld),
  });
  process.stderr.write(`reads of the active's address during the failover: ${summary}\n`);
  assert.ok(heldBeforeSwitch, `held as soon as rbuddy saw it, not only at the retire: ${summary}`);
  for (const kind of afterHeld.keys()) {
    assert.match(kind, /^(-MASTERDOWN|-LOADING|conn:)/, `only errors once held: ${summary}`);
  }
  // The standby, now the active, holds the data.
  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address);
  assert.equal(await t.standby.client().get(KEY), 'value');
  await waitForInSync(t.master.client(), t.standby.client());
});
