// Webhooks through a whole failover cycle (master kill -9, SAVE, restart), received by a real HTTP
// server that checks every request with the independent `standardwebhooks` package.
// (1)+(2) The receiver misbehaves (500s, a hang past the request timeout, 429 with Retry-After)
// and still gets every event exactly once per id, in order, with the same id on every retry.
// (4) An endpoint answering 410 is disabled (and says so in /v1/status), a hanging and a refusing
// endpoint never succeed — and the failover completes all the same.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import type { EventType } from '../../src/notify/events.js';
import { freePort } from '../../harness/processes.js';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  newWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../harness/webhook-receiver.js';

const receivers: WebhookReceiver[] = [];
after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
  await Promise.all(receivers.map((receiver) => receiver.close()));
});

const CYCLE: EventType[] = [
  'master.down',
  'active.promoted',
  'standby.attached',
  'standby.synced',
  'failover.completed',
  'standby.ready',
];

function isSubsequence(wanted: readonly string[], seen: readonly string[]): boolean {
  let i = 0;
  for (const type of seen) if (type === wanted[i]) i += 1;
  return i === wanted.length;
}

const FAST = [
  '--grace-ms',
  '1000',
  '--drain-ms',
  '1000',
  '--probe-interval-ms',
  '200',
  '--probe-timeout-ms',
  '1000',
];

/** Kill the master (after SAVE), wait for the promotion, restart it, wait for the switch. */
async function failoverCycle(t: Topology): Promise<void> {
  const master = t.master.client();
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;
  await master.save();
  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: 'the active to be promoted and the standby attached',
    timeoutMs: 60_000,
  });
  await t.master.restart();
  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    { what: 'the switch to complete', timeoutMs: 120_000 },
  );
}

async function httpStatus(t: Topology): Promise<AppStatus> {
  const response = await fetch(`${t.rbuddy.httpUrl}/v1/status`, {
    signal: AbortSignal.timeout(10_000),
  });
  return (await response.json()) as AppStatus;
}

test('a failover cycle reaches a misbehaving receiver: every event once, in order, signed', async () => {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  // Attempts 0-1: 500; attempt 2: hang past the 1 s request timeout; attempt 3: 429 with
  // Retry-After; then every 3rd attempt fails again so that retries interleave with new events.
  receiver.respond = (_attempt, index) => {
    if (index < 2) return { status: 500 };
    if (index === 2) return 'hang';
    if (index === 3) return { status: 429, headers: { 'retry-after': '1' } };
    return index % 3 === 0 ? { status: 503 } : { status: 200 };
  };
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no' },
    rbuddyArgs: [
      ...FAST,
      '--webhook',
      receiver.url,
      '--webhook-secret',
      receiver.secret,
      '--webhook-timeout-ms',
      '1000',
    ],
    populate: { megabytes: 2 },
  });
  await failoverCycle(t);

  await waitFor(() => receiver.delivered().length === t.rbuddy.app.events.history().length, {
    what: 'all events delivered',
    timeoutMs: 60_000,
  });
  const emitted = t.rbuddy.app.events.history();
  const delivered = receiver.delivered();
  assert.deepEqual(
    delivered,
    emitted.map((event) => JSON.parse(JSON.stringify(event)) as unknown),
    'exactly the emitted events (their JSON), in emission order',
  );
  assert.ok(
    isSubsequence(
      CYCLE,
      delivered.map((event) => event.type),
    ),
    `cycle order: ${delivered.map((event) => event.type).join(', ')}`,
  );
  for (const [id, count] of receiver.ackCounts()) assert.equal(count, 1, `${id} acked ${count}×`);
  assert.ok(
    receiver.attempts.every((attempt) => attempt.verified),
    'every attempt verified by standardwebhooks',
  );
  // The first event was tried five times (500, 500, hang, 429, 200?) — always with its own id.
  const firstId = delivered[0]?.id;
  const firstAttempts = receiver.attempts.filter((attempt) => attempt.id === firstId);
  assert.ok(firstAttempts.length >= 4, `first event attempts: ${firstAttempts.length}`);
  assert.deepEqual(
    firstAttempts.slice(0, 4).map((attempt) => attempt.answered),
    [500, 500, 'hang', 429],
  );
  // Order: no attempt for a later event before every earlier one was acknowledged.
  const order = new Map(delivered.map((event, i) => [event.id, i]));
  let acknowledged = -1;
  for (const attempt of receiver.attempts) {
    const position = order.get(attempt.id) ?? -1;
    assert.equal(position, acknowledged + 1, 'an event is only sent after its predecessor');
    if (typeof attempt.answered === 'number' && attempt.answered < 300) acknowledged = position;
  }

  const status = await httpStatus(t);
  await waitFor(async () => (await httpStatus(t)).notifications.webhooks[0]?.pending === 0, {
    what: 'nothing pending',
  });
  assert.deepEqual(
    status.notifications.webhooks.map((webhook) => webhook.url),
    [new URL(receiver.url).origin],
    'the origin only: no path',
  );
  // The same story in the metrics: every delivery and every failed attempt counted, nothing left.
  const metrics = parsePrometheusText(await (await fetch(`${t.rbuddy.httpUrl}/metrics`)).text());
  const counted = (result: string): number =>
    sampleValue(metrics, 'rbuddy_notifications_total', { channel: 'webhook', result }) ?? 0;
  assert.equal(counted('delivered'), t.rbuddy.app.events.history().length);
  assert.ok(counted('failed') >= 4, `failed attempts counted: ${counted('failed')}`);
  assert.equal(sampleValue(metrics, 'rbuddy_outbox_pending'), 0);
});

test('410 disables the endpoint, hanging/refusing endpoints never delay the failover', async () => {
  const secret = newWebhookSecret();
  const gone = await startWebhookReceiver({ secret, path: '/gone' });
  gone.respond = () => ({ status: 410 });
  const hanging = await startWebhookReceiver({ secret, path: '/hang' });
  hanging.respond = () => 'hang';
  receivers.push(gone, hanging);
  // Nothing listens there: connection refused on every attempt.
  const refused = `http://127.0.0.1:${await freePort()}/nobody`;
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no' },
    rbuddyArgs: [
      ...FAST,
      '--webhook',
      gone.url,
      '--webhook',
      `${hanging.url}?token=do-not-show`,
      '--webhook',
      refused,
      '--webhook-secret',
      secret,
      // The default (10 s) on purpose: a blocking sink would stall the cycle for every event.
    ],
    populate: { megabytes: 2 },
  });
  await failoverCycle(t);

  const types = t.rbuddy.app.events.history().map((event) => event.type);
  assert.ok(isSubsequence(CYCLE, types), `cycle completed: ${types.join(', ')}`);
  const status = await httpStatus(t);
  const [goneStatus, hangStatus, refusedStatus] = status.notifications.webhooks;
  assert.equal(goneStatus?.state, 'disabled');
  assert.match(goneStatus?.lastError ?? '', /410/);
  assert.equal(goneStatus?.lastSuccess, null);
  assert.equal(gone.attempts.length, 1, 'one attempt, then disabled');
  assert.ok((goneStatus?.pending ?? 0) >= CYCLE.length, 'its events stay in the outbox');
  // The hanging endpoint is still on its first event (10 s timeout, then backoff) while the
  // whole cycle completed: the failover did not wait for it.
  assert.equal(hangStatus?.lastSuccess, null);
  assert.ok((hangStatus?.pending ?? 0) >= CYCLE.length);
  assert.equal(hangStatus?.url, new URL(hanging.url).origin, 'path and query (token) hidden');
  assert.equal(refusedStatus?.lastSuccess, null);
  assert.notEqual(refusedStatus?.state, 'ok');
  assert.ok(
    !JSON.stringify(t.rbuddy.logs()).includes('do-not-show') &&
      !JSON.stringify(t.rbuddy.logs()).includes(secret.slice('whsec_'.length)),
    'neither the token in the URL nor the secret is logged',
  );
});
