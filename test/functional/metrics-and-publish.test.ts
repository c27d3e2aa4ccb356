// GET /metrics parses as Prometheus text and its counters move with a planned failover
// (failovers_total{result="completed"} +1, epoch +1, relay bytes grow); the event JSON is PUBLISHed
// on --channel to the --publish targets — a subscriber on a separate redis:// target and one on a
// replica both get failover.completed with the id of the event history; a --publish target that is
// down (SIGSTOPped: connections hang) does not delay the failover, and its failures are counted in
// rbuddy_notifications_total.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { parsePrometheusText, sampleValue, type Exposition } from '../helpers/prom-text.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'metrics-and-publish-t0ken';
const CHANNEL = 'test:rbuddy-events';
const DOWN_PASSWORD = 'publish-s3cret-pw';
let paused: RedisServer | undefined;

after(async () => {
  // A stopped process cannot act on SIGTERM: let it go on before stopping it.
  paused?.resume();
  await stopAllRbuddy();
  await stopAllRedis();
});

async function scrape(httpUrl: string): Promise<Exposition> {
  const response = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

/** Subscribes and collects every event published on the channel. */
async function subscriber(client: Redis): Promise<RbuddyEvent[]> {
  const received: RbuddyEvent[] = [];
  client.on('message', (channel: string, message: string) => {
    if (channel === CHANNEL) received.push(JSON.parse(message) as RbuddyEvent);
  });
  await client.subscribe(CHANNEL);
  return received;
}

test('metrics move with a failover; --publish targets get the events; a down target delays nothing', async () => {
  const [live, down] = await Promise.all([
    startRedis({ name: 'publish-live' }),
    startRedis({ name: 'publish-down' }),
  ]);
  paused = down;
  down.pause();
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: [
      '--http-token',
      TOKEN,
      '--drain-ms',
      '1000',
      '--probe-interval-ms',
      '200',
      '--probe-timeout-ms',
      '1000',
      '--channel',
      CHANNEL,
      '--publish',
      'replicas',
      '--publish',
      `redis://${live.address}/0`,
      '--publish',
      // A password in the URL (the paused server never gets to check it) must never be logged.
      `redis://:${DOWN_PASSWORD}@${down.address}/0`,
    ],
    populate: { megabytes: 2 },
  });
  await t.waitForHealthy();

  const before = await scrape(t.rbuddy.httpUrl);
  for (const name of [
    'rbuddy_up',
    'rbuddy_state',
    'rbuddy_epoch',
    'rbuddy_master_up',
    'rbuddy_failovers_total',
    'rbuddy_failover_duration_seconds',
    'rbuddy_relay_bytes_total',
    'rbuddy_session_phase',
    'rbuddy_replica_lag_bytes',
    'rbuddy_notifications_total',
    'rbuddy_outbox_pending',
    'rbuddy_process_cpu_seconds_total',
  ]) {
    assert.ok(before.type.has(name), `# TYPE ${name}`);
    assert.ok(before.help.has(name), `# HELP ${name}`);
  }
  assert.equal(sampleValue(before, 'rbuddy_up'), 1);
  assert.equal(sampleValue(before, 'rbuddy_master_up'), 1);
  assert.equal(sampleValue(before, 'rbuddy_state', { state: 'healthy' }), 1);
  assert.equal(sampleValue(before, 'rbuddy_state', { state: 'failing-over' }), 0);
  assert.equal(
    sampleValue(before, 'rbuddy_session_phase', { replica: t.active.address, phase: 'streaming' }),
    1,
  );
  const epochBefore = sampleValue(before, 'rbuddy_epoch') ?? Number.NaN;
  assert.equal(epochBefore, t.rbuddy.status().epoch);
  const completedBefore =
    sampleValue(before, 'rbuddy_failovers_total', { result: 'completed' }) ?? Number.NaN;
  const bytesBefore =
    sampleValue(before, 'rbuddy_relay_bytes_total', { direction: 'to_replica' }) ?? Number.NaN;
  assert.ok(bytesBefore > 0, 'the active synced through the proxy: bytes were relayed');

  // Subscribers: one on the separate target, one on the standby (the incoming active; the
  // outgoing one has its clients killed when it is retired).
  const onLive = await subscriber(live.client());
  const onReplica = await subscriber(t.standby.client());

  const response = await fetch(`${t.rbuddy.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(response.status, 202);
  // The down target hangs every PUBLISH until the command timeout: the failover goes on anyway.
  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    { what: 'the planned failover to complete', timeoutMs: 120_000 },
  );
  const completed = t.rbuddy.app.events
    .history()
    .find((event) => event.type === 'failover.completed');
  assert.ok(completed !== undefined, 'failover.completed in the history');

  for (const [where, received] of [
    ['the redis:// target', onLive],
    ['the replica', onReplica],
  ] as const) {
    const event = await waitFor(
      () => received.find((candidate) => candidate.type === 'failover.completed'),
      { what: `failover.completed on ${where}`, timeoutMs: 60_000 },
    );
    assert.deepEqual(event, completed, `the same event (id ${completed.id}) on ${where}`);
  }
  // In order on the separate target: everything of this failover, as the history has it.
  await waitFor(() => onLive.some((event) => event.type === 'standby.ready'), {
    what: 'standby.ready on the redis:// target',
    timeoutMs: 60_000,
  });
  const historyIds = t.rbuddy.app.events.history().map((event) => event.id);
  const liveIds = onLive.map((event) => event.id);
  assert.deepEqual(
    liveIds,
    historyIds.slice(historyIds.indexOf(liveIds[0] ?? '')).slice(0, liveIds.length),
  );

  const afterFailover = await waitFor(
    async () => {
      const scraped = await scrape(t.rbuddy.httpUrl);
      const failed =
        sampleValue(scraped, 'rbuddy_notifications_total', {
          channel: 'publish',
          result: 'failed',
        }) ?? 0;
      return failed >= 1 ? scraped : undefined;
    },
    { what: 'the down target counted as failed', timeoutMs: 60_000 },
  );
  assert.equal(sampleValue(afterFailover, 'rbuddy_epoch'), epochBefore + 1);
  assert.equal(
    sampleValue(afterFailover, 'rbuddy_failovers_total', { result: 'completed' }),
    completedBefore + 1,
  );
  assert.equal(sampleValue(afterFailover, 'rbuddy_failover_duration_seconds_count'), 1);
  const bytesAfter =
    sampleValue(afterFailover, 'rbuddy_relay_bytes_total', { direction: 'to_replica' }) ?? 0;
  assert.ok(bytesAfter > bytesBefore, `relay bytes grew: ${bytesBefore} → ${bytesAfter}`);
  assert.ok(
    (sampleValue(afterFailover, 'rbuddy_notifications_total', {
      channel: 'publish',
      result: 'delivered',
    }) ?? 0) > 0,
    'deliveries to the live targets counted',
  );
  assert.equal(sampleValue(afterFailover, 'rbuddy_state', { state: 'healthy' }), 1);
  const logs = t.rbuddy
    .logs()
    .map((line) => JSON.stringify(line))
    .join('\n');
  assert.match(logs, /publish failed/, 'the down target logged');
  assert.ok(!logs.includes(DOWN_PASSWORD), 'the URL password is not in the log');

  // /v1/status shows each target: the down one with its error, the others delivered.
  const targets = t.rbuddy.status().notifications.publish;
  const downTarget = targets.find((entry) => entry.target.includes(down.address));
  assert.ok(downTarget !== undefined, JSON.stringify(targets));
  assert.ok(downTarget.lastError !== null, 'the down target shows its last error');
  assert.equal(downTarget.lastSuccess, null);
  assert.ok(!downTarget.target.includes(DOWN_PASSWORD), 'no password in the status');
  const liveTarget = targets.find((entry) => entry.target.includes(live.address));
  assert.ok(liveTarget?.lastSuccess !== null && liveTarget?.lastSuccess !== undefined);
  assert.ok(!JSON.stringify(t.rbuddy.status()).includes(DOWN_PASSWORD));
});
