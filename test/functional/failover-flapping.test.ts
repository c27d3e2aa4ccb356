// Flapping within one failover never starts a second one; I2 and I3 (docs/design.md): the master goes
// down and up five times — a blip inside the grace period, an outage that promotes the active,
// an outage in the middle of the standby's sync, one during the drain after the switch, and a
// crash that loses its replication history — while a monitor samples /v1/status, GET /active
// and ROLE/DBSIZE of both replicas. Throughout: exactly one node is named active and it is the
// one announced; the standby never serves a dataset as a master except as the outgoing active of
// a completed switch; while healthy, the standby is held (a replica whose link stays down and
// that refuses reads); the node named active is never empty; each completed cycle is exactly one
// switch (epoch + 1) and one flush of its outgoing node. At the end: healthy, digests equal.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { AppStatus } from '../../src/app.js';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startReader } from '../../harness/reader.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { digest, info, populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertHeldStandby } from '../../harness/held-standby.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

async function flushallCalls(client: Redis): Promise<number> {
  const line = (await info(client, 'commandstats'))['cmdstat_flushall'];
  if (line === undefined) return 0;
  return Number(/(?:^|,)calls=(\d+)/.exec(line)?.[1] ?? NaN);
}

interface NodeSample {
  role: string | undefined;
  /** A replica's link state as ROLE gives it (connect, connecting, sync, connected, …). */
  link: string | undefined;
  /** DBSIZE, or undefined when refused (-LOADING; -MASTERDOWN on a held standby) or timed out. */
  keys: number | undefined;
}

/**
 * Samples rbuddy's view and both replicas' ROLE and DBSIZE every few ms and records every
 * sample that breaks an invariant. A sample only counts when rbuddy's state, epoch, roles and
 * failover step were the same before and after it, so a transition in between is not mistaken
 * for a violation.
 */
function startMonitor(rbuddy: RbuddyUnderTest, nodes: readonly RedisServer[]) {
  const clients = new Map(
    nodes.map((node) => [
      node.address,
      node.client({ commandTimeout: 1_000, maxRetriesPerRequest: 0, enableOfflineQueue: false }),
    ]),
  );
  const violations: string[] = [];
  const epochs = new Set<number>();
  let samples = 0;
  let running = true;
  const sampleNode = async (address: string): Promise<NodeSample> => {
    const client = clients.get(address);
    if (client === undefined) return { role: undefined, link: undefined, keys: undefined };
    // DBSIZE is refused (-LOADING) while a replica loads a snapshot: unknown, not a violation.
    // A held standby refuses it too (-MASTERDOWN): it serves no reads.
    const [roleReply, keys] = await Promise.all([
      client
        .call('ROLE')
        .then((reply) => reply as unknown[])
        .catch(() => undefined),
      client.dbsize().catch(() => undefined),
    ]);
    const role = roleReply === undefined ? undefined : String(roleReply[0]);
    const link = role === 'slave' ? String(roleReply?.[3]) : undefined;
    return { role, link, keys };
  };
  const key = (s: AppStatus): string =>
    JSON.stringify([s.state, s.epoch, s.active, s.standby, s.failover?.step ?? null]);
  const check = (
    s: AppStatus,
    announced: string,
    byNode: ReadonlyMap<string, NodeSample | undefined>,
  ): void => {
    const where = `state ${s.state}, epoch ${String(s.epoch)}, step ${s.failover?.step ?? '-'}`;
    const fail = (what: string): void => {
      if (violations.length < 20) violations.push(`${what} (${where})`);
    };
    const addresses = nodes.map((node) => node.address);
    if (s.active === null || s.standby === null || s.active === s.standby) {
      fail(`roles: active ${String(s.active)}, standby ${String(s.standby)}`);
      return;
    }
    if (!addresses.includes(s.active) || !addresses.includes(s.standby)) {
      fail(`unknown node named: ${s.active} / ${s.standby}`);
    }
    if (announced !== `redis://${s.active}/`) {
      fail(`GET /active answered ${announced} while the active is ${s.active}`);
    }
    const active = byNode.get(s.active);
    const standby = byNode.get(s.standby);
    if (active?.keys === 0) fail(`the active ${s.active} is empty`);
    // A standby serving data as a master is a second active — unless it is the outgoing
    // active of a switch that already happened (draining, about to be flushed).
    if (standby?.role === 'master' && (standby.keys ?? 0) > 0) {
      const draining = s.failover?.step === 'switched' && s.failover.outgoing === s.standby;
      if (!draining) fail(`the standby ${s.standby} is a master holding ${standby.keys} keys`);
    }
    if (s.state === 'healthy' && s.failover === null) {
      if (active?.role !== undefined && active.role !== 'slave') {
        fail(`healthy but the active ${s.active} is a ${active.role}`);
      }
      // The idle standby is held (docs/design.md, "Roles and states"): a replica whose link
      // never comes up, refusing reads.
      if (standby?.role !== undefined && standby.role !== 'slave') {
        fail(`healthy but the standby ${s.standby} is a ${standby.role}`);
      }
      if (standby?.link === 'sync' || standby?.link === 'connected') {
        fail(`healthy but the standby ${s.standby} is syncing (link ${standby.link})`);
      }
      if (standby?.keys !== undefined) {
        fail(`healthy but the standby ${s.standby} answers DBSIZE (${standby.keys})`);
      }
    }
  };
  const loop = (async () => {
    while (running) {
      const before = rbuddy.status();
      const [announced, sampled] = await Promise.all([
        fetch(`${rbuddy.httpUrl}/active`, { signal: AbortSignal.timeout(1_000) })
          .then(async (response) => (await response.text()).trim())
          .catch((error: unknown) => `error: ${String(error)}`),
        Promise.all(nodes.map((node) => sampleNode(node.address))),
      ]);
      const afterwards = rbuddy.status();
      if (key(before) === key(afterwards)) {
        samples += 1;
        if (before.epoch !== null) epochs.add(before.epoch);
        const byNode = new Map(nodes.map((node, index) => [node.address, sampled[index]]));
        check(before, announced, byNode);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    get samples() {
      return samples;
    },
    async stop() {
      running = false;
      await loop;
      for (const client of clients.values()) client.disconnect();
      return { violations, epochs: [...epochs].sort((a, b) => a - b), samples };
    },
  };
}

test('master flapping five times: one active, no wrong flush, one switch per cycle', async (t) => {
  const [master, active, standby] = await Promise.all([
    startRedis({
      name: 'master',
      args: { 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
    }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const masterClient = master.client();
  await populate(masterClient, { megabytes: 2, valueBytes: 100 });
  await masterClient.set('reader-key', 'reader-value');
  const rbuddy = await startRbuddy({
    master: master.address,
    active: active.address,
    standby: standby.address,
    args: [
      '--grace-ms',
      '2000',
      '--drain-ms',
      '4000',
      '--probe-interval-ms',
      '200',
      '--probe-timeout-ms',
      '500',
      '--probe-failures',
      '2',
      '--command-timeout-ms',
      '2000',
    ],
  });
  const status = (): AppStatus => rbuddy.status();
  const waitStatus = (what: string, check: (s: AppStatus) => boolean, timeoutMs = 60_000) =>
    waitFor(() => check(status()), { what, timeoutMs });
  await waitStatus('rbuddy healthy', (s) => s.state === 'healthy');
  await waitForInSync(masterClient, active.client());
  const epochBefore = status().epoch ?? -1;

  const reader = startReader({
    httpUrl: rbuddy.httpUrl,
    key: 'reader-key',
    expected: 'reader-value',
  });
  const monitor = startMonitor(rbuddy, [active, standby]);
  // Their loops must end even when an assertion fails half-way.
  t.after(async () => {
    await monitor.stop();
    await reader.stop();
  });
  await waitFor(() => reader.ok >= 20 && monitor.samples >= 20, { what: 'reader and monitor' });
  const flaps: string[] = [];

  // 1. A blip: down until rbuddy notices, up again inside the grace period.
  master.pause();
  await waitStatus('the master noticed lost', (s) => s.state === 'master-lost');
  master.resume();
  flaps.push('blip inside the grace period');
  await waitStatus('healthy again', (s) => s.state === 'healthy' && s.masterUp);

  // 2. Down past the grace period: the active is promoted and the standby attached. The snapshot
  // the standby then gets is streamed slowly (a delay per key), so the master can go down again
  // in the middle of it.
  await masterClient.config('SET', 'rdb-key-save-delay', '300');
  master.pause();
  await waitStatus('the standby attached', (s) => s.failover?.step === 'syncing');
  master.resume();
  flaps.push('outage past the grace period');
  // The probe backs off while the master is down: wait until it has seen it back, so that the
  // next outage is one rbuddy notices.
  await waitStatus("the master up and the standby's snapshot on its way", (s) => {
    const session = s.sessions.find((candidate) => candidate.replica === standby.address);
    return s.masterUp && session?.phase === 'snapshot' && (session.snapshot?.transferred ?? 0) > 0;
  });

  // 3. Down in the middle of the standby's sync.
  master.pause();
  await waitStatus('the probe to see the master down', (s) => !s.masterUp);
  master.resume();
  flaps.push("outage during the standby's sync");
  await waitStatus('the switch', (s) => s.failover?.step === 'switched' && s.masterUp, 120_000);
  await masterClient.config('SET', 'rdb-key-save-delay', '0');

  // 4. Down while the old active drains (after the switch, before the flush).
  master.pause();
  await waitStatus('the probe to see the master down', (s) => !s.masterUp);
  master.resume();
  flaps.push('outage during the drain');
  await waitStatus(
    'the first cycle to finish',
    (s) => s.state === 'healthy' && s.failover === null && s.masterUp,
    120_000,
  );

  // 5. A crash that loses the last write: the master comes back from an RDB older than the
  // active's offset. (Redis ≥ 7.0 keeps the RDB's replication id as replid2, so with nothing
  // written after the SAVE it would answer +CONTINUE.) It answers the active's PSYNC with
  // +FULLRESYNC, which the gate refuses: a second cycle, at once.
  const epochBeforeCrash = status().epoch ?? -1;
  await masterClient.save();
  await masterClient.set('lost-in-the-crash', 'x');
  const current = status().active === active.address ? active : standby;
  await waitFor(async () => (await current.client().get('lost-in-the-crash')) === 'x', {
    what: 'the active to have the write the crash loses',
  });
  await master.kill9();
  await master.restart();
  flaps.push('crash and restart without history');
  await waitStatus(
    'the second cycle to finish',
    (s) =>
      s.state === 'healthy' &&
      s.failover === null &&
      s.masterUp &&
      (s.epoch ?? -1) > epochBeforeCrash,
    120_000,
  );
  assert.equal(flaps.length, 5);

  const final = status();
  const newActive = final.active === active.address ? active : standby;
  const newStandby = newActive === active ? standby : active;
  await waitForInSync(master.client(), newActive.client());
  const readsAtEnd = reader.ok;
  await waitFor(() => reader.ok >= readsAtEnd + 20, { what: 'reads at the end' });
  const watched = await monitor.stop();
  const read = await reader.stop();

  assert.deepEqual(watched.violations, [], `invariants broken (${watched.samples} samples)`);
  assert.equal(read.failed, 0, `failed reads: ${read.errors.join('; ')}`);

  // One switch per completed cycle: the epoch moved once per failover.completed, each
  // followed by exactly one standby.ready before the next cycle could complete.
  const events = rbuddy.app.events.history();
  const completed = events.filter((event) => event.type === 'failover.completed');
  assert.ok(completed.length >= 2, `cycles completed: ${completed.length}`);
  assert.equal(final.epoch, epochBefore + completed.length);
  assert.deepEqual(
    completed.map((event) => event.epoch),
    completed.map((_, index) => epochBefore + index + 1),
  );
  const switchAndFlush = events
    .filter((event) => event.type === 'failover.completed' || event.type === 'standby.ready')
    .map((event) => event.type);
  assert.deepEqual(
    switchAndFlush,
    completed.flatMap(() => ['failover.completed', 'standby.ready']),
  );
  // Flapping inside a failover never started another one: one start, one promotion per cycle.
  const started = rbuddy.logs().filter((line) => line.msg === 'failover started');
  assert.equal(started.length, completed.length, 'failovers started = cycles completed');
  const promoted = events.filter((event) => event.type === 'active.promoted');
  assert.equal(promoted.length, completed.length, 'one promotion per cycle');
  // Every epoch the monitor saw is one of those the cycles went through, none skipped.
  for (const epoch of watched.epochs) {
    assert.ok(epoch >= epochBefore && epoch <= epochBefore + completed.length, `epoch ${epoch}`);
  }

  // Each node was flushed exactly once per cycle it was the outgoing active of, never else.
  for (const node of [active, standby]) {
    const outgoingTimes = completed.filter(
      (event) => event.data['previousActive'] === node.address,
    ).length;
    assert.equal(
      await flushallCalls(node.client()),
      outgoingTimes,
      `${node.name} flushed once per cycle it left`,
    );
  }

  assert.equal(final.state, 'healthy');
  assert.equal(await digest(newActive.client()), await digest(master.client()));
  await assertHeldStandby(newStandby.client(), 'on-the-idle-standby');
});
