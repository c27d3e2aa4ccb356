// Webhook delivery (docs/design.md, "Notifications") against a real local HTTP receiver that
// checks every request with the independent `standardwebhooks` package: signatures verify;
// failures are retried with the same id, honouring Retry-After; 410 disables the endpoint; order
// is kept per endpoint; the outbox on disk survives a new instance; deliver() never waits for the
// network; a failed request is reported without its URL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { EventType, RbuddyEvent } from '../../src/notify/events.js';
import {
  parseRetryAfter,
  signWebhook,
  webhookKey,
  webhookOrigin,
  WebhookNotifier,
  type WebhookOptions,
} from '../../src/notify/webhooks.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  newWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../harness/webhook-receiver.js';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
const receivers: WebhookReceiver[] = [];
const notifiers: WebhookNotifier[] = [];

after(async () => {
  await Promise.all(notifiers.map((notifier) => notifier.close()));
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-webhooks-test-'));
  dirs.push(dir);
  return dir;
}

async function receiver(secret?: string): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver({ secret });
  receivers.push(started);
  return started;
}

function event(type: EventType, n = 0): RbuddyEvent {
  return {
    id: randomUUID(),
    type,
    timestamp: new Date().toISOString(),
    group: 'rbuddy',
    epoch: n,
    data: { active: '10.0.0.6:6379', standby: '10.0.0.5:6379', master: '10.0.0.2:6379' },
  };
}

async function notifier(
  options: Partial<WebhookOptions> & Pick<WebhookOptions, 'urls' | 'secret' | 'stateDir'>,
): Promise<WebhookNotifier> {
  const created = new WebhookNotifier({
    timeoutMs: 2_000,
    logger: silent,
    // Instant retries: these tests are about what is retried, not how long we wait.
    retry: () => 1,
    ...options,
  });
  notifiers.push(created);
  await created.start();
  return created;
}

test('the signature is the one standardwebhooks verifies', () => {
  const secret = newWebhookSecret();
  const body = JSON.stringify(event('failover.completed'));
  const id = 'msg_1';
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = signWebhook(webhookKey(secret), id, timestamp, body);
  assert.match(signature, /^v1,[A-Za-z0-9+/]+=*$/);
  const headers = {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  };
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.throws(() => new Webhook(newWebhookSecret()).verify(body, headers), /signature/i);
});

test('Retry-After: delta-seconds and HTTP dates; URL redaction', () => {
  const now = new Date('2026-11-22T03:00:00Z');
  assert.equal(parseRetryAfter('3', now), 3_000);
  assert.equal(parseRetryAfter('Sun, 22 Nov 2026 03:00:07 GMT', now), 7_000);
  assert.equal(parseRetryAfter('Sun, 22 Nov 2026 02:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(
    webhookOrigin('https://user:pw@hooks.example:8443/a/b?token=secret#x'),
    'https://hooks.example:8443',
  );
  assert.equal(webhookOrigin('not a url'), '<invalid url>');
});

test('delivers the exact event JSON, signed, with its id, in order', async () => {
  const r = await receiver();
  const n = await notifier({ urls: [r.url], secret: r.secret, stateDir: await tempDir() });
  const sent = (
    ['master.down', 'active.promoted', 'standby.attached', 'failover.completed'] as const
  ).map((type, i) => event(type, i));
  for (const e of sent) n.deliver(e);
  await waitFor(() => r.delivered().length === sent.length, { what: 'all delivered' });
  assert.deepEqual(r.delivered(), sent, 'same events, same order, same JSON');
  for (const attempt of r.attempts) {
    assert.equal(attempt.verified, true, attempt.verifyError);
    assert.equal(attempt.contentType, 'application/json');
    assert.equal(attempt.id, (JSON.parse(attempt.body) as RbuddyEvent).id);
  }
  await waitFor(() => n.status()[0]?.pending === 0, { what: 'nothing pending' });
  const [status] = n.status();
  assert.equal(status?.state, 'ok');
  assert.notEqual(status?.lastSuccess, null);
});

test('failures are retried with the same id; order is kept; Retry-After is honoured', async () => {
  const r = await receiver();
  // The first event fails twice (500, then 429 with Retry-After), then succeeds.
  r.respond = (_attempt, index) => {
    if (index === 0) return { status: 500 };
    if (index === 1) return { status: 429, headers: { 'retry-after': '1' } };
    return { status: 200 };
  };
  const observedDelays: number[] = [];
  const n = await notifier({
    urls: [r.url],
    secret: r.secret,
    stateDir: await tempDir(),
    retry: (attempt) => {
      observedDelays.push(attempt);
      return 1;
    },
  });
  const first = event('master.down');
  const second = event('active.promoted');
  n.deliver(first);
  n.deliver(second);
  await waitFor(() => r.delivered().length === 2, { what: 'both delivered', timeoutMs: 20_000 });
  assert.deepEqual(
    r.attempts.map((a) => [a.id, a.answered]),
    [
      [first.id, 500],
      [first.id, 429],
      [first.id, 200],
      [second.id, 200],
    ],
    'the second event waited for the first; every retry carried the first id',
  );
  assert.deepEqual(observedDelays, [0, 1], 'the policy was consulted once per failure');
  // Retry-After: 1 s — the retry came no earlier than the second the receiver asked for.
  const retryAt = Number(r.attempts[2]?.timestamp);
  const askedAt = Number(r.attempts[1]?.timestamp);
  assert.ok(retryAt >= askedAt + 1, `retry at ${retryAt}, 429 at ${askedAt}`);
});

test('a hanging endpoint times out and is retried', async () => {
  const r = await receiver();
  r.respond = (_attempt, index) => (index === 0 ? 'hang' : { status: 204 });
  const n = await notifier({
    urls: [r.url],
    secret: r.secret,
    stateDir: await tempDir(),
    timeoutMs: 300,
  });
  const e = event('master.down');
  n.deliver(e);
  await waitFor(() => r.delivered().length === 1, { what: 'delivered after the timeout' });
  assert.deepEqual(
    r.attempts.map((a) => [a.id, a.answered]),
    [
      [e.id, 'hang'],
      [e.id, 204],
    ],
  );
  assert.match(n.status()[0]?.lastError ?? '', /timeout/);
});

test('410 Gone disables the endpoint; other endpoints keep going', async () => {
  const gone = await receiver();
  gone.respond = () => ({ status: 410 });
  const fine = await receiver(gone.secret);
  const n = await notifier({
    urls: [gone.url, fine.url],
    secret: gone.secret,
    stateDir: await tempDir(),
  });
  n.deliver(event('master.down'));
  n.deliver(event('active.promoted'));
  await waitFor(() => n.status()[0]?.state === 'disabled', { what: 'the 410 endpoint disabled' });
  await waitFor(() => fine.attempts.length === 2, { what: 'the other endpoint served' });
  assert.equal(gone.attempts.length, 1, 'no retry after 410');
  n.deliver(event('standby.ready'));
  await waitFor(() => fine.attempts.length === 3, { what: 'the third event' });
  assert.equal(gone.attempts.length, 1, 'nothing more to a disabled endpoint');
  const [disabled] = n.status();
  assert.equal(disabled?.state, 'disabled');
  assert.equal(disabled?.pending, 3);
  assert.match(disabled?.lastError ?? '', /410/);
});

test('deliver() returns at once even when the endpoint hangs', async () => {
  const r = await receiver();
  r.respond = () => 'hang';
  const n = await notifier({ urls: [r.url], secret: r.secret, stateDir: await tempDir() });
  // Synchronous: if deliver() awaited the network this loop could not finish before the attempt.
  for (let i = 0; i < 5; i += 1) n.deliver(event('master.down', i));
  assert.equal(n.status()[0]?.pending, 5);
  assert.equal(r.attempts.length, 0, 'nothing was sent synchronously');
});

test('the outbox survives a new instance: same ids, same order, nothing lost', async () => {
  const stateDir = await tempDir();
  const r = await receiver();
  r.respond = () => ({ status: 503 });
  const first = await notifier({ urls: [r.url], secret: r.secret, stateDir });
  const sent = [event('master.down'), event('active.promoted'), event('standby.attached')];
  for (const e of sent) first.deliver(e);
  await waitFor(() => r.attempts.length >= 2, { what: 'failed attempts' });
  await first.close();
  const outboxDirs = await readdir(join(stateDir, 'outbox'));
  assert.equal(outboxDirs.length, 1);
  const files = await readdir(join(stateDir, 'outbox', outboxDirs[0] ?? ''));
  assert.equal(files.length, 3, `outbox holds the three events: ${files.join(',')}`);
  assert.ok(!files.some((name) => name.includes('127.0.0.1')), 'no URL in file names');

  r.respond = () => ({ status: 200 });
  const second = await notifier({ urls: [r.url], secret: r.secret, stateDir });
  second.deliver(event('failover.completed'));
  await waitFor(() => r.delivered().length === 4, { what: 'all four delivered' });
  assert.deepEqual(
    r.delivered().map((e) => e.id),
    [...sent.map((e) => e.id), r.delivered()[3]?.id],
  );
  assert.equal(
    r.delivered()[3]?.type,
    'failover.completed',
    'the new event came after the old ones',
  );
  assert.deepEqual(r.delivered().slice(0, 3), sent, 'the recovered events are byte-identical');
  await waitFor(
    async () => (await readdir(join(stateDir, 'outbox', outboxDirs[0] ?? ''))).length === 0,
    { what: 'the outbox emptied' },
  );
});

test('past the outbox limit the oldest undelivered events are dropped, from the queue and the disk; a restart keeps the limit', async () => {
  const stateDir = await tempDir();
  const r = await receiver();
  r.respond = () => ({ status: 503 });
  const n = await notifier({ urls: [r.url], secret: r.secret, stateDir, outboxLimit: 4 });
  const sent = Array.from({ length: 10 }, (_, i) => event('master.down', i));
  // The first one is in flight (its attempts fail): it stays; the next oldest go.
  n.deliver(sent[0]);
  await waitFor(() => r.attempts.length >= 1, { what: 'the first in flight' });
  for (const e of sent.slice(1)) n.deliver(e);
  assert.deepEqual([n.status()[0]?.pending, n.status()[0]?.dropped], [4, 6]);
  const outbox = join(stateDir, 'outbox', (await readdir(join(stateDir, 'outbox')))[0] ?? '');
  await waitFor(async () => (await readdir(outbox)).length === 4, { what: 'the disk trimmed' });
  await n.close();

  r.respond = () => ({ status: 200 });
  const again = await notifier({ urls: [r.url], secret: r.secret, stateDir, outboxLimit: 2 });
  const epochs = (): number[] => r.delivered().map((e) => e.epoch);
  await waitFor(() => epochs().includes(9), {
    what: 'the newest delivered',
    explain: () => JSON.stringify({ delivered: epochs(), status: again.status() }),
  });
  // The first one, in flight at close(), may reach the receiver as its request is cut off (at
  // least once): any other is one of the two newest, in order.
  assert.deepEqual(
    epochs().filter((epoch) => epoch !== 0),
    [8, 9],
    'the newest kept, in order; the dropped never sent',
  );
  assert.equal(again.status()[0]?.dropped, 2);
  await waitFor(async () => (await readdir(outbox)).length === 0, { what: 'the outbox emptied' });
});

test('an event sent again with its id (after a restart) is stored and delivered once', async () => {
  const stateDir = await tempDir();
  const r = await receiver();
  r.respond = () => ({ status: 503 });
  const first = await notifier({ urls: [r.url], secret: r.secret, stateDir });
  const completed = event('failover.completed');
  await first.store(completed);
  // The same process sending it twice stores it once.
  await first.store(completed);
  await first.close();

  // A restart that cannot tell whether the outbox got it sends it again: still one copy.
  r.respond = () => ({ status: 200 });
  const second = await notifier({ urls: [r.url], secret: r.secret, stateDir });
  await second.store(completed);
  const later = event('standby.ready');
  await second.store(later);
  await waitFor(() => r.delivered().length === 2, { what: 'both delivered' });
  // And once more after its delivery: the outbox remembers what it delivered. Per-endpoint
  // order means that a second copy would arrive before `last`.
  await second.store(completed);
  const last = event('master.up');
  await second.store(last);
  await waitFor(() => r.delivered().length === 3, { what: 'the last one delivered' });
  assert.deepEqual(
    r.delivered().map((e) => e.id),
    [completed.id, later.id, last.id],
  );
  assert.equal(r.ackCounts().get(completed.id), 1, 'acknowledged once');
});

test('a failed request is reported by its code or as a timeout, never with the URL', async () => {
  const url = 'https://hooks.example/T0KEN/secret-path';
  const failures: { thrown: unknown; reason: RegExp }[] = [
    {
      thrown: new TypeError('fetch failed', {
        cause: Object.assign(new Error(`connect ECONNREFUSED ${url}`), { code: 'ECONNREFUSED' }),
      }),
      reason: /request failed \(ECONNREFUSED\)$/,
    },
    { thrown: new DOMException('timed out', 'TimeoutError'), reason: /timeout after 2000 ms$/ },
    { thrown: new TypeError(`fetch failed for ${url}`), reason: /request failed \(TypeError\)$/ },
    { thrown: `a string quoting ${url}`, reason: /request failed \(error\)$/ },
  ];
  for (const { thrown, reason } of failures) {
    const n = await notifier({
      urls: [url],
      secret: '',
      stateDir: await tempDir(),
      fetch: () => {
        throw thrown;
      },
      // One attempt: the endpoint is disabled after it, its lastError kept.
      retry: () => false,
    });
    await n.store(event('master.down'));
    await waitFor(() => n.status()[0]?.state === 'disabled', { what: 'the attempt to fail' });
    const lastError = n.status()[0]?.lastError ?? '';
    assert.match(lastError, reason);
    assert.doesNotMatch(lastError, /T0KEN|secret-path/);
  }
});
