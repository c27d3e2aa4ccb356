// A restart of rbuddy during the drain (docs/design.md, "Restart and reconciliation"): rbuddy is
// killed (kill -9) after failover.completed, before the old active is retired, and stays down
// until the drain counted from the switch is over. The next process on the same state dir drains
// a full --drain-ms from its own start, so that the Sentinel clients that were subscribed to the
// dead process can reconnect and hear of the switch, which it tells again on its port; then it
// retires the old active as usual (flushed once, the held idle standby, standby.ready).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { assertHeldStandby, keyCount } from '../../harness/held-standby.js';
import { info } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { flushallCalls, startRig } from '../helpers/restart-rig.js';

const DRAIN_MS = 12_000;

test('killed during the drain: the next process drains again from its start and tells the switch again', async (t) => {
  const rig = await startRig({
    drainMs: DRAIN_MS,
    masterArgs: { 'repl-diskless-sync': 'no' },
    populate: { megabytes: 1 },
  });
  const before = await rig.status();
  const oldActive = rig.active.client();
  const keysBefore = await keyCount(oldActive);
  assert.ok(keysBefore > 0);

  // An unplanned failover: the restarted process never sees its active.promoted.
  await rig.master.client().save();
  await rig.master.kill9();
  await rig.waitForStatus('the standby attached', (s) => s.failover?.step === 'syncing');
  await rig.master.restart();
  const switched = await rig.waitForStatus('the switch (draining)', (s) => s.state === 'switching');
  assert.equal(switched.failover?.step, 'switched');
  assert.equal(switched.epoch, (before.epoch ?? -1) + 1);
  assert.equal(switched.active, rig.standby.address);

  await rig.crash();
  assert.equal(await keyCount(oldActive), keysBefore, 'not flushed before the crash');
  // Down until the drain counted from the switch is over: a process that counted from the switch
  // would retire the old active at once, before anyone could reconnect to it.
  const switchedAt = Date.parse(switched.failover?.verifiedAt ?? '');
  await waitFor(() => Date.now() >= switchedAt + DRAIN_MS, {
    what: 'the drain counted from the switch to be over',
    timeoutMs: DRAIN_MS + 5_000,
    intervalMs: 100,
  });
  const restartedAt = Date.now();
  await rig.restart();

  // A Sentinel client that was subscribed to the dead process reconnects to the new one.
  const subscriber = new Redis({
    host: rig.rbuddy.resp.host,
    port: rig.rbuddy.resp.port,
    enableReadyCheck: false,
    maxRetriesPerRequest: 1,
  });
  t.after(() => subscriber.disconnect());
  const heard = new Map<string, string>();
  subscriber.on('message', (channel: string, message: string) => heard.set(channel, message));
  await subscriber.subscribe('+switch-master', '+sdown');

  // The new process is switching and the old active still holds its keys, after the restart.
  const resumed = await rig.waitForStatus(
    'the restarted process draining',
    (s) => s.state === 'switching' && s.failover?.step === 'switched',
  );
  assert.equal(resumed.epoch, switched.epoch, 'the epoch survived the restart');
  assert.equal(await keyCount(oldActive), keysBefore, 'not flushed at the restart');
  assert.equal(await flushallCalls(oldActive), 0);
  assert.equal((await rig.status()).state, 'switching', 'still draining after the key count');

  const [oldHost, oldPort] = rig.active.address.split(':');
  const [newHost, newPort] = rig.standby.address.split(':');
  await waitFor(() => heard.get('+switch-master'), {
    what: '+switch-master on the restarted process',
    explain: () => JSON.stringify([...heard]),
  });
  assert.equal(
    heard.get('+switch-master'),
    `${before.group} ${oldHost} ${oldPort} ${newHost} ${newPort}`,
  );
  // The switch was a master loss, as the record says: Sentinel's +sdown comes with it.
  assert.equal(heard.get('+sdown'), `master ${before.group} ${oldHost} ${oldPort}`);

  // Then the retire: a full drain from the new process's start, the old active flushed once and
  // held, standby.ready.
  const done = await rig.waitForStatus(
    'the retire after the restart',
    (s) => s.state === 'healthy' && s.failover === null,
  );
  assert.equal(done.epoch, switched.epoch);
  assert.equal(done.active, rig.standby.address);
  const flushedAt = Date.parse(
    done.lastFailover?.timeline.find((entry) => entry.step === 'flushed')?.at ?? '',
  );
  assert.ok(
    flushedAt >= restartedAt + DRAIN_MS,
    `flushed at ${new Date(flushedAt).toISOString()}, a full drain after the restart at ${new Date(restartedAt).toISOString()}`,
  );
  assert.ok(
    rig.rbuddy.logs().some((line) => line.msg === 'event standby.ready'),
    'standby.ready from the restarted process',
  );
  assert.equal(await keyCount(oldActive), 0, 'the old active was flushed');
  assert.equal(await flushallCalls(oldActive), 1, 'exactly once');
  await waitFor(async () => (await info(oldActive, 'replication')).master_link_status === 'down', {
    what: 'the old active held',
  });
  await assertHeldStandby(oldActive, 'after-the-restart');
});
