// A failing webhook endpoint cannot set rbuddy's pace (docs/design.md, "Notifications" and
// "Limits and trust"): `Retry-After: 0` or a date in the past is floored at the retry policy's
// delay (it once meant 571 requests in 2 s), the "retrying" warning is logged once per window
// rather than once per attempt, and status, logs and errors show the endpoint's origin only.
// The waits between attempts and the clock are injected: the assertions count requests and
// waits, never time.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { WebhookNotifier, type WebhookOptions } from '../../src/notify/webhooks.js';
import { waitFor } from '../../harness/wait-for.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../harness/webhook-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function event(): RbuddyEvent {
  return {
    id: randomUUID(),
    type: 'master.down',
    timestamp: new Date().toISOString(),
    group: 'rbuddy',
    epoch: 1,
    data: { active: '10.0.0.6:6379', standby: '10.0.0.5:6379', master: '10.0.0.2:6379' },
  };
}

/** A delay() that records what it was asked to wait and returns only when the test says so. */
class ManualDelay {
  readonly asked: number[] = [];
  private readonly pending: Array<() => void> = [];

  readonly delay = (ms: number, signal: AbortSignal): Promise<void> => {
    this.asked.push(ms);
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.pending.push(done);
      signal.addEventListener('abort', done);
    });
  };

  release(): void {
    const next = this.pending.shift();
    assert.ok(next !== undefined, 'nobody is waiting');
    next();
  }
}

interface LogLine {
  level: string;
  msg: string;
  suppressed?: number;
  [field: string]: unknown;
}

async function setUp({ path, ...options }: Partial<WebhookOptions> & { path?: string } = {}) {
  const receiver: WebhookReceiver = await startWebhookReceiver(path === undefined ? {} : { path });
  cleanups.push(() => receiver.close());
  const stateDir = await mkdtemp(join(tmpdir(), 'rbuddy-webhook-pace-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug', formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  const manual = new ManualDelay();
  const notifier = new WebhookNotifier({
    urls: [receiver.url],
    secret: receiver.secret,
    stateDir,
    timeoutMs: 5_000,
    logger,
    delay: manual.delay,
    ...options,
  });
  cleanups.push(() => notifier.close());
  await notifier.start();
  return { receiver, notifier, manual, lines };
}

test('Retry-After: 0 and a past date are retried at the policy pace, not at once', async () => {
  const policy = (attempt: number): number => 1_000 * (attempt + 1);
  const { receiver, notifier, manual } = await setUp({ retry: policy });
  receiver.respond = (_attempt, index) => ({
    status: 503,
    headers: { 'retry-after': index % 2 === 0 ? '0' : 'Thu, 01 Jan 1970 00:00:00 GMT' },
  });
  notifier.deliver(event());

  const rounds = 6;
  for (let round = 1; round <= rounds; round += 1) {
    await waitFor(() => manual.asked.length === round, { what: `wait number ${round}` });
    // One request per wait of the policy: nothing went out while the policy said to wait.
    assert.equal(receiver.attempts.length, round, `requests after ${round} failures`);
    if (round < rounds) manual.release();
  }
  assert.deepEqual(
    manual.asked,
    Array.from({ length: rounds }, (_, attempt) => policy(attempt)),
    'every wait is the policy delay, however small the Retry-After',
  );
  assert.deepEqual(
    receiver.attempts.map((attempt) => attempt.answered),
    Array.from({ length: rounds }, () => 503),
  );
});

test('a Retry-After longer than the policy delay is honoured, up to maxRetryAfterMs', async () => {
  const { receiver, notifier, manual } = await setUp({
    retry: () => 1_000,
    maxRetryAfterMs: 30_000,
  });
  const asks = ['5', '3600'];
  receiver.respond = (_attempt, index) =>
    index < asks.length
      ? { status: 429, headers: { 'retry-after': asks[index] ?? '' } }
      : { status: 204 };
  notifier.deliver(event());
  await waitFor(() => manual.asked.length === 1, { what: 'the first wait' });
  manual.release();
  await waitFor(() => manual.asked.length === 2, { what: 'the second wait' });
  manual.release();
  await waitFor(() => receiver.delivered().length === 1, { what: 'the delivery' });
  assert.deepEqual(manual.asked, [5_000, 30_000]);
});

test('the retry warning is logged once per window, with the count it held back', async () => {
  // From the real time: receivers reject a signature timestamp more than 5 minutes off.
  let now = Date.now();
  const { receiver, notifier, manual, lines } = await setUp({
    retry: () => 1_000,
    warnIntervalMs: 60_000,
    now: () => new Date(now),
    // A Slack-style URL: the token is the path.
    path: '/services/T0001/B0002/sEcReTtOkEn',
  });
  let failing = true;
  receiver.respond = () =>
    failing ? { status: 503, headers: { 'retry-after': '0' } } : { status: 200 };
  const retrying = (): LogLine[] =>
    lines.filter((line) => line.msg === 'webhook delivery failed; retrying');
  notifier.deliver(event());

  // Ten failures within the first minute.
  for (let failure = 1; failure <= 10; failure += 1) {
    await waitFor(() => manual.asked.length === failure, { what: `failure ${failure}` });
    now += 1_000;
    if (failure < 10) manual.release();
  }
  assert.deepEqual(
    retrying().map((line) => line.level),
    ['warn', ...Array.from({ length: 9 }, () => 'debug')],
    'every failure is logged, one warning in the first minute and the rest at debug',
  );

  // The 11th fails a minute later: a warning again, saying how many were held back.
  now += 60_000;
  manual.release();
  await waitFor(() => manual.asked.length === 11, { what: 'failure 11' });
  const warnings = retrying().filter((line) => line.level === 'warn');
  assert.equal(warnings.length, 2);
  assert.equal(warnings[1]?.suppressed, 9);

  failing = false;
  manual.release();
  const recovered = await waitFor(
    () => lines.find((line) => line.msg === 'webhook delivered after retries'),
    { what: 'the recovery logged' },
  );
  assert.equal(recovered.level, 'info');
  assert.equal(recovered.failedAttempts, 11);
  assert.deepEqual(
    receiver.attempts.map((attempt) => attempt.answered),
    [...Array.from({ length: 11 }, () => 503), 200],
  );

  // Status, logs and the last error show the origin only.
  const [status] = notifier.status();
  assert.equal(status?.url, new URL(receiver.url).origin);
  assert.match(status?.lastError ?? '', /HTTP 503/);
  const everything = JSON.stringify({ status: notifier.status(), lines });
  assert.ok(!everything.includes('sEcReTtOkEn'), 'the token in the path never shows');
  assert.ok(!everything.includes('/services/'), 'nor the path');
});
