// Webhook URLs are shown as their origin only (docs/design.md, "Limits and trust"). A Slack-style
// URL carries its token in the path, others in the query: GET /v1/status (which needs no token by
// default), /metrics and the logs of the real app show neither, even after failed deliveries with
// their errors.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { freePort } from '../../harness/processes.js';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { waitFor } from '../../harness/wait-for.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../harness/webhook-receiver.js';

const PATH_TOKEN = 'pAtHtOkEn0123456789';
const QUERY_TOKEN = 'qUeRyToKeN0123456789';
const receivers: WebhookReceiver[] = [];

after(async () => {
  await stopAllRbuddy();
  await Promise.all(receivers.map((receiver) => receiver.close()));
});

test('/v1/status, /metrics and the logs show each webhook as its origin only', async () => {
  const slack = await startWebhookReceiver({ path: `/services/T0001/B0002/${PATH_TOKEN}` });
  const query = await startWebhookReceiver({ secret: slack.secret, path: '/hook' });
  receivers.push(slack, query);
  for (const receiver of receivers) {
    receiver.respond = () => ({ status: 503, headers: { 'retry-after': '0' } });
  }
  const [master, active, standby] = await Promise.all([freePort(), freePort(), freePort()]);
  const rbuddy = await startRbuddy({
    // Nothing listens there: the admin API and the notifications work without the nodes.
    master: `127.0.0.1:${master}`,
    active: `127.0.0.1:${active}`,
    standby: `127.0.0.1:${standby}`,
    args: [
      '--webhook',
      slack.url,
      '--webhook',
      `${query.url}?token=${QUERY_TOKEN}`,
      '--webhook-secret',
      slack.secret,
    ],
  });
  rbuddy.app.events.emit('master.down', 0, {
    active: `127.0.0.1:${active}`,
    standby: `127.0.0.1:${standby}`,
    master: `127.0.0.1:${master}`,
  });

  const readStatus = async (): Promise<{ text: string; body: AppStatus }> => {
    const response = await fetch(`${rbuddy.httpUrl}/v1/status`, {
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    return { text, body: JSON.parse(text) as AppStatus };
  };
  const failed = await waitFor(
    async () => {
      const status = await readStatus();
      const webhooks = status.body.notifications.webhooks;
      return webhooks.length === 2 && webhooks.every((webhook) => webhook.lastError !== null)
        ? status
        : undefined;
    },
    { what: 'a failed attempt on both endpoints' },
  );
  assert.deepEqual(
    failed.body.notifications.webhooks.map((webhook) => webhook.url),
    [new URL(slack.url).origin, new URL(query.url).origin],
  );
  const metrics = await (await fetch(`${rbuddy.httpUrl}/metrics`)).text();
  const everything = [failed.text, metrics, JSON.stringify(rbuddy.logs())].join('\n');
  for (const secret of [PATH_TOKEN, QUERY_TOKEN, '/services/', '/hook']) {
    assert.ok(!everything.includes(secret), `${secret} shows in status, metrics or logs`);
  }
});
