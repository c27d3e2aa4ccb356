// The gate (I1) decides on the master's reply, whatever the replica asked with. An operator may
// well give rbuddy's master user `+@all -psync`: the replica's PSYNC then gets -NOPERM and it
// falls back to inline SYNC, which the master answers with a snapshot and no +FULLRESYNC line.
// That snapshot must be gated like any other: a master restarted empty must not flush the
// active; rbuddy fails over instead. And a master that goes silent (SIGSTOP: its sockets stay
// open, the replica's ACKs still go into them) is given up after --repl-timeout-ms.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, info } from '../../harness/replication.js';
import { explainTopology, failoverTimings, startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('inline SYNC (master user without psync): a master back empty never flushes the active', async () => {
  const t = await startTopology({
    // No `save`: the restarted master is empty, with a new replication id. The user is a config
    // directive so it survives the restart.
    masterArgs: { user: 'rbuddy-repl on >master-secret ~* &* +@all -psync' },
    rbuddyArgs: [
      // Long enough that only the gate, never the grace period, can start this failover.
      ...failoverTimings({ graceMs: 60_000 }),
      '--master-user',
      'rbuddy-repl',
      '--master-password',
      'master-secret',
    ],
    populate: { megabytes: 1 },
  });
  const explain = (): string => explainTopology(t.rbuddy, [t.master, t.active, t.standby]);
  // After an inline SYNC the replica knows no replid or offset of its master (the master sends
  // none), so "in sync" here is: rbuddy healthy and the same data on both.
  await waitFor(() => t.rbuddy.status().state === 'healthy', { what: 'healthy', explain });
  await waitFor(
    async () => (await digest(t.active.client())) === (await digest(t.master.client())),
    { what: 'the active to hold the master dataset', explain },
  );
  // The first sync went through SYNC: the master refused PSYNC to this user.
  assert.ok(
    t.rbuddy.logs().some((line) => line.msg === 'master refused PSYNC'),
    'the replica fell back to SYNC',
  );
  const active = t.active.client();
  const keys = await active.dbsize();
  const activeDigest = await digest(active);
  assert.ok(keys > 0);

  await t.master.kill9();
  await t.master.restart();
  await t.master.client().set('onlynewkey', '1');

  await waitFor(
    () => t.rbuddy.app.events.history().some((event) => event.type === 'active.promoted'),
    { what: 'the gate to start a failover', timeoutMs: 60_000, explain },
  );
  assert.match(t.rbuddy.status().failover?.reason ?? '', /full resync/);
  assert.equal(await active.dbsize(), keys, 'the active kept every key');
  assert.equal(await active.get('onlynewkey'), null, 'the empty master never reached the active');
  assert.equal(await digest(active), activeDigest);
  assert.equal((await info(active, 'replication')).role, 'master', 'promoted, not resynced');
});

test('a master silent for --repl-timeout-ms is given up, though the replica keeps ACKing', async () => {
  const t = await startTopology({
    rbuddyArgs: [
      '--repl-timeout-ms',
      '2000',
      // Only the relay's own silence check may notice: the probe never gives up here.
      '--probe-failures',
      '1000000',
      '--grace-ms',
      '600000',
    ],
  });
  await t.waitForHealthy();
  const first = (await t.waitForPhase(t.active, 'streaming')).id;
  const closed: string[] = [];
  t.rbuddy.app.proxy.on('session-event', (session, event) => {
    if (session.id === first && event.type === 'closed') closed.push(event.reason);
  });
  t.master.pause();
  try {
    await waitFor(() => closed.length > 0, {
      what: 'the silent master to be given up',
      explain: () => explainTopology(t.rbuddy, [t.master, t.active, t.standby]),
    });
    assert.deepEqual(closed, ['upstream-lost']);
  } finally {
    t.master.resume();
  }
  await waitFor(() => t.session(t.active)?.phase === 'streaming', {
    what: 'the active to resume once the master answers again',
  });
});
