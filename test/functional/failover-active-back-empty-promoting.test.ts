// The master is lost and the failover reaches step `promoting`, where it stays: the active
// refuses the promotion's CONFIG SET (an ACL rule put on it for the test, as a promotion that
// fails or is slow would). Meanwhile the active is killed (kill -9) and restarts empty (a replica
// without persistence): a plain master with no keys, which answers every read with a nil.
// rbuddy must never promote it: it holds it as it holds the idle standby (-MASTERDOWN, never a
// nil), attaches the standby without a promotion, and once the master is back the standby takes
// over with the data (docs/design.md, "Roles and states", the active back empty). Meanwhile
// /readyz says that the node /active names serves no data (503, with the reason).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { answerKind, getOnce } from '../helpers/get-once.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { flushallCalls } from '../helpers/restart-rig.js';
import { explainTopology, failoverTimings, startTopology } from '../helpers/topology.js';

const KEY = 'back-empty-promoting-key';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('an active back empty while the failover is at step promoting is held, never promoted, and the standby takes over', async () => {
  const t = await startTopology({ rbuddyArgs: failoverTimings(), populate: { megabytes: 1 } });
  await t.master.client().set(KEY, 'value');
  await t.waitForHealthy();
  await waitForInSync(t.master.client(), t.active.client());
  const explain = (): string => explainTopology(t.rbuddy, [t.master, t.active, t.standby]);
  const events = (type: string): number =>
    t.rbuddy.app.events.history().filter((event) => event.type === type).length;

  // The promotion's write guard (CONFIG SET) refused on this process of the active only: the
  // failover stays at step promoting, retrying. The master keeps its data on disk for its return.
  await t.active.client().call('ACL', 'SETUSER', 'default', '-config|set');
  await t.master.client().save();
  await t.master.kill9();
  await waitFor(
    () =>
      t.rbuddy.status().failover?.step === 'promoting' &&
      /NOPERM|permission/i.test(t.rbuddy.status().lastError ?? ''),
    {
      what: 'the failover held at step promoting by the refused guard',
      timeoutMs: 60_000,
      explain,
    },
  );

  await t.active.kill9();
  // A replica writes the snapshot it loads to dump.rdb even with `save ""`
  // (`readSyncBulkPayload` in replication.c): without it the node restarts empty.
  rmSync(join(t.active.dir, 'dump.rdb'), { force: true });
  const beforeHeld = new Map<string, number>();
  const afterHeld = new Map<string, number>();
  let reading = true;
  const reader = (async () => {
    while (reading) {
      const kind = answerKind(await getOnce(t.active, KEY));
      const counts = kind === '-MASTERDOWN' || afterHeld.size > 0 ? afterHeld : beforeHeld;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      if (kind.startsWith('conn:')) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  const summary = (): string =>
    JSON.stringify({
      beforeHeld: Object.fromEntries(beforeHeld),
      afterHeld: Object.fromEntries(afterHeld),
    });
  try {
    await t.active.restart();
    // The master is still away: only a hold, never the failover's end, can make it -MASTERDOWN.
    await waitFor(() => afterHeld.size > 0, {
      what: 'the empty active held (-MASTERDOWN) while the master is still away',
      timeoutMs: 60_000,
      explain: () => `${summary()}\n${explain()}`,
    });
    const status = await waitFor(
      () => {
        const now = t.rbuddy.status();
        return now.failover?.step === 'syncing' ? now : undefined;
      },
      { what: 'the standby attached without a promotion', timeoutMs: 60_000, explain },
    );
    assert.ok(status.failover?.timeline.some((entry) => entry.step === 'active-held'));
    assert.equal(events('active.promoted'), 0, 'no promotion announced');
    assert.equal(status.active, t.active.address, 'still the active until the switch');
    const readyz = await fetch(`${t.rbuddy.httpUrl}/readyz`);
    const body = (await readyz.json()) as { ready: boolean; reason?: string };
    assert.equal(readyz.status, 503, JSON.stringify(body));
    assert.match(body.reason ?? '', /came back empty and is held/);

    await t.master.restart();
    await waitFor(() => events('standby.ready') > 0 && t.rbuddy.status().state === 'healthy', {
      what: 'the failover to complete',
      timeoutMs: 120_000,
      explain,
    });
  } finally {
    reading = false;
    await reader;
  }
  process.stderr.write(`reads of the active's address during the failover: ${summary()}\n`);
  for (const kind of afterHeld.keys()) {
    assert.match(kind, /^(-MASTERDOWN|-LOADING|conn:)/, `only errors once held: ${summary()}`);
  }
  assert.equal(events('active.promoted'), 0, 'never promoted');
  const status = t.rbuddy.status();
  assert.equal(status.active, t.standby.address);
  assert.equal(await t.standby.client().get(KEY), 'value', 'the standby took over with the data');
  assert.equal(await flushallCalls(t.active.client()), 0, 'the empty node was never flushed');
  assert.equal((await fetch(`${t.rbuddy.httpUrl}/readyz`)).status, 200);
});
