// The gate (docs/design.md, "The gate"): a master blip shorter than --grace-ms is not a failover. When the active's
// PSYNC through the proxy is answered +CONTINUE inside the grace period, the active simply
// resumes: no promotion, no full sync, no epoch change, and the only events are master.down
// then master.up. Two ways the master blips: it cuts the replication link itself (the active's
// upstream is lost), and it stops answering altogether for a moment (the health probe fails).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startReader, type Reader } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import {
  digest,
  info,
  masterStats,
  type MasterStats,
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

interface Baseline {
  epoch: number | null;
  events: number;
  stats: MasterStats;
  activeKeys: number;
  reader: Reader;
}

/** A healthy topology whose active is in sync, with a reader on it. */
async function healthyTopology(): Promise<{ t: Topology; baseline: Baseline }> {
  const t = await startTopology({
    rbuddyArgs: failoverTimings({ graceMs: 10_000 }),
    populate: { megabytes: 2 },
  });
  const master = t.master.client();
  await master.set('reader-key', 'reader-value');
  await t.waitForHealthy();
  const reader = startReader({
    httpUrl: t.rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  readers.push(reader);
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });
  return {
    t,
    baseline: {
      epoch: t.rbuddy.status().epoch,
      events: t.rbuddy.app.events.history().length,
      stats: await masterStats(master),
      activeKeys: await t.active.client().dbsize(),
      reader,
    },
  };
}

/** Back to healthy with the active resumed by +CONTINUE: nothing else happened. */
async function assertResumedWithoutFailover(t: Topology, baseline: Baseline): Promise<void> {
  const master = t.master.client();
  await waitFor(
    () => {
      const status = t.rbuddy.status();
      return status.state === 'healthy' && status.masterLostSince === null;
    },
    { what: 'rbuddy back to healthy', timeoutMs: 60_000 },
  );
  const status = t.rbuddy.status();
  assert.equal(status.epoch, baseline.epoch, 'epoch unchanged');
  assert.equal(status.active, t.active.address, 'roles unchanged');
  assert.equal(status.standby, t.standby.address);
  assert.equal(status.failover, null, 'no failover recorded');
  assert.equal(status.lastFailover, null);
  // Writes made after the blip reach the active over the resumed stream.
  await master.set('after-blip', 'yes');
  await waitForInSync(master, t.active.client());
  assert.equal(await t.active.client().get('after-blip'), 'yes');
  assert.equal(await digest(t.active.client()), await digest(master));

  const stats = await masterStats(master);
  assert.equal(stats.syncFull, baseline.stats.syncFull, 'no full sync was served');
  assert.ok(
    stats.syncPartialOk > baseline.stats.syncPartialOk,
    `the active resumed with +CONTINUE (sync_partial_ok ${baseline.stats.syncPartialOk} → ${stats.syncPartialOk})`,
  );
  assert.equal(stats.syncPartialErr, baseline.stats.syncPartialErr);

  // The active never stopped being a replica of the proxy; the standby stayed the held standby.
  const activeRepl = await info(t.active.client(), 'replication');
  assert.equal(activeRepl.role, 'slave');
  assert.equal(activeRepl.master_port, String(t.rbuddy.resp.port));
  await assertHeldStandby(t.standby.client(), 'on-the-standby');
  assert.equal(await t.active.client().dbsize(), baseline.activeKeys + 1);

  const events = t.rbuddy.app.events.history().slice(baseline.events);
  assert.deepEqual(
    events.map((event) => event.type),
    ['master.down', 'master.up'],
    'only master.down then master.up',
  );
  for (const event of events) assert.equal(event.epoch, baseline.epoch);
  // The session the active streams on now is a resumed one: CONTINUE, not a snapshot.
  const session = t.session(t.active);
  assert.equal(session?.phase, 'streaming');
  assert.equal(session?.snapshot, null, 'the resumed session carried no snapshot');

  await waitFor(() => baseline.reader.ok >= 40, { what: 'reads after the blip' });
  const result = await baseline.reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [`redis://${t.active.address}/`]);
}

test('the master cuts the active link: +CONTINUE, no failover', async () => {
  const { t, baseline } = await healthyTopology();
  const firstSession = t.session(t.active)?.id;
  assert.ok(firstSession !== undefined);

  // The master drops its replica (the proxy's upstream for the active): the proxy loses the
  // active's upstream, which counts as master loss; the active reconnects at once.
  const killed = await t.master.client().client('KILL', 'TYPE', 'replica');
  assert.equal(killed, 1, 'the master had exactly one replica: the active through the proxy');
  await waitFor(() => t.rbuddy.app.events.history().some((event) => event.type === 'master.down'), {
    what: 'master.down',
  });
  await waitFor(
    () => {
      const session = t.session(t.active);
      return session !== undefined && session.id !== firstSession && session.phase === 'streaming';
    },
    { what: 'the active to resume on a new session', timeoutMs: 60_000 },
  );
  await assertResumedWithoutFailover(t, baseline);
});

test('the master stops answering for a moment: +CONTINUE, no failover', async () => {
  const { t, baseline } = await healthyTopology();
  const firstSession = t.session(t.active)?.id;
  assert.ok(firstSession !== undefined);

  t.master.pause();
  try {
    // The probe fails --probe-failures times: master lost, inside the grace period.
    await waitFor(() => t.rbuddy.status().state === 'master-lost', {
      what: 'rbuddy to see the master lost',
    });
    assert.ok(t.rbuddy.app.events.history().some((event) => event.type === 'master.down'));
    // The active's link breaks while the master is away (from the active's side: a replica
    // hanging up is not master loss), so that it must PSYNC again when the master returns.
    const dropped = await t.active.client().client('KILL', 'TYPE', 'master');
    assert.equal(dropped, 1);
    await waitFor(
      () => {
        const session = t.session(t.active);
        return session !== undefined && session.id !== firstSession;
      },
      { what: 'the active to reconnect to the proxy' },
    );
    assert.equal(t.rbuddy.status().state, 'master-lost', 'still inside the grace period');
  } finally {
    t.master.resume();
  }
  await assertResumedWithoutFailover(t, baseline);
});
