// The outbox lives in the state dir, so a restart does not lose a notification (docs/design.md,
// "Notifications"): the rbuddy CLI emits failover events while its webhook receiver is down, is
// killed with kill -9, and is restarted with the same --state-dir once the receiver is up. Every
// event of the first run arrives after the restart, with its original id and body, in the original
// order, before anything the second run emits; signatures verify with the standardwebhooks package.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { freePort, killHard, portIsFree, terminate } from '../../harness/processes.js';
import { cliStatus, spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { populate } from '../../harness/replication.js';
import { failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  newWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../harness/webhook-receiver.js';

const spawned = new Set<RbuddyProcess>();
const receivers: WebhookReceiver[] = [];
const stateDirs: string[] = [];

after(async () => {
  await Promise.all([...spawned].map((rbuddy) => terminate(rbuddy.child)));
  await stopAllRedis();
  await Promise.all(receivers.map((receiver) => receiver.close()));
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

async function outboxFiles(stateDir: string): Promise<number> {
  const root = join(stateDir, 'outbox');
  let count = 0;
  for (const dir of await readdir(root)) {
    count += (await readdir(join(root, dir))).filter((name) => name.endsWith('.json')).length;
  }
  return count;
}

function loggedEvents(rbuddy: RbuddyProcess): RbuddyEvent[] {
  return rbuddy
    .logs()
    .filter(
      (line) =>
        typeof line.msg === 'string' &&
        line.msg.startsWith('event ') &&
        typeof line.event === 'object',
    )
    .map((line) => line.event as RbuddyEvent);
}

test('events pending at a kill -9 are delivered after the restart, same ids, same order', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await populate(master.client(), { megabytes: 1 });
  const [port, receiverPort] = [await freePort(), await freePort()];
  const secret = newWebhookSecret();
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-webhook-state-'));
  stateDirs.push(stateDir);
  const args = [
    '--master',
    master.address,
    '--active',
    active.address,
    '--standby',
    standby.address,
    '--listen',
    `127.0.0.1:${port}`,
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    ...failoverTimings(),
    // Nothing listens there during the first run: every attempt is refused.
    '--webhook',
    `http://127.0.0.1:${receiverPort}/hook`,
    '--webhook-secret',
    secret,
    '--log-level',
    'debug',
  ];
  const first = await spawnRbuddy(args);
  spawned.add(first);
  await waitFor(async () => (await cliStatus(first)).state === 'healthy', {
    what: 'rbuddy healthy',
    timeoutMs: 60_000,
  });

  await master.kill9();
  await waitFor(
    async () => {
      const s = await cliStatus(first);
      return s.failover?.step === 'syncing' && (s.notifications.webhooks[0]?.pending ?? 0) >= 3;
    },
    { what: 'promotion events pending for the dead receiver', timeoutMs: 60_000 },
  );
  // The log lines come through the child's stdout, which may lag behind its HTTP answer.
  const promotion = ['master.down', 'active.promoted', 'standby.attached'];
  await waitFor(
    () => promotion.every((type) => loggedEvents(first).some((event) => event.type === type)),
    {
      what: 'the promotion events in the log',
      explain: () =>
        `logged so far: ${loggedEvents(first)
          .map((event) => event.type)
          .join(', ')}`,
    },
  );
  assert.equal((await cliStatus(first)).notifications.webhooks[0]?.state, 'retrying');
  // Durable before delivery: every emitted event has its file in the outbox.
  await waitFor(async () => (await outboxFiles(stateDir)) === loggedEvents(first).length, {
    what: 'the outbox on disk to hold every emitted event',
  });
  const stored = loggedEvents(first);
  await killHard(first.child);
  spawned.delete(first);

  const receiver = await startWebhookReceiver({ secret, port: receiverPort });
  receivers.push(receiver);
  await waitFor(() => portIsFree(port), { what: `port ${port} free again`, timeoutMs: 30_000 });
  const second = await spawnRbuddy(args);
  spawned.add(second);

  await waitFor(() => receiver.delivered().length >= stored.length, {
    what: `the ${stored.length} events of the first run delivered`,
    timeoutMs: 60_000,
  });
  assert.deepEqual(
    receiver.delivered().slice(0, stored.length),
    stored,
    'same ids, same bodies, same order, before anything new',
  );
  assert.ok(receiver.attempts.every((attempt) => attempt.verified));
  for (const [id, count] of receiver.ackCounts()) assert.equal(count, 1, `${id} acked ${count}×`);
  await waitFor(async () => (await cliStatus(second)).notifications.webhooks[0]?.state === 'ok', {
    what: 'the endpoint ok in /v1/status',
  });
});
