// I3 (docs/design.md) and "Persist, then announce": the new roles are persisted before
// failover.completed announces them, and a restart must not lose that announcement. A kill -9 after
// the roles were saved but before the webhook outbox stored the event used to lose it for good.
//
// The instant between the two writes cannot be hit from outside the process, so the first rbuddy
// CLI is given an outbox it cannot write (its directory replaced by a file): every event it emits
// stays out of the outbox, exactly as if it had died before writing it. It switches roles (a
// planned failover) while the receiver is down, and is killed with kill -9. The next process, on
// the same --state-dir, delivers failover.completed with the id the first one logged, once; a
// third start does not send it again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { freePort, killHard, terminate } from '../../harness/processes.js';
import {
  cliArgs,
  cliStatus,
  spawnHealthy,
  type RbuddyProcess,
} from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { populate } from '../../harness/replication.js';
import { failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  newWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../harness/webhook-receiver.js';

const TOKEN = 'completed-after-crash-t0ken';
const spawned = new Set<RbuddyProcess>();
const receivers: WebhookReceiver[] = [];
const stateDirs: string[] = [];

after(async () => {
  await Promise.all([...spawned].map((rbuddy) => terminate(rbuddy.child)));
  await stopAllRedis();
  await Promise.all(receivers.map((receiver) => receiver.close()));
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[]): Promise<RbuddyProcess> {
  const rbuddy = await spawnHealthy(args);
  spawned.add(rbuddy);
  return rbuddy;
}

async function outboxDrained(rbuddy: RbuddyProcess): Promise<void> {
  await waitFor(
    async () => {
      const webhook = (await cliStatus(rbuddy)).notifications.webhooks[0];
      return webhook?.pending === 0 && webhook.state === 'ok';
    },
    { what: `the outbox of pid ${String(rbuddy.child.pid)} drained` },
  );
}

function loggedEvents(rbuddy: RbuddyProcess, type: string): RbuddyEvent[] {
  return rbuddy
    .logs()
    .filter((line) => line.msg === `event ${type}` && typeof line.event === 'object')
    .map((line) => line.event as RbuddyEvent);
}

test('failover.completed lost by a kill -9 before the outbox write is delivered after the restart, once', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master', args: { 'repl-diskless-sync-delay': 0 } }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await populate(master.client(), { megabytes: 1 });
  const [port, receiverPort] = [await freePort(), await freePort()];
  const secret = newWebhookSecret();
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-completed-state-'));
  stateDirs.push(stateDir);
  const args = cliArgs(
    { master, active, standby },
    {
      listen: `127.0.0.1:${port}`,
      stateDir,
      extra: [
        '--http-token',
        TOKEN,
        ...failoverTimings(),
        // Nothing listens there during the first run.
        '--webhook',
        `http://127.0.0.1:${receiverPort}/hook`,
        '--webhook-secret',
        secret,
      ],
    },
  );
  const first = await start(args);

  // The first process's outbox: a file where its directory should be.
  const [endpointDir] = await readdir(join(stateDir, 'outbox'));
  assert.ok(endpointDir !== undefined);
  const outbox = join(stateDir, 'outbox', endpointDir);
  await rm(outbox, { recursive: true });
  await writeFile(outbox, 'not a directory\n');

  const response = await fetch(`${first.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202);
  await waitFor(async () => (await cliStatus(first)).lastFailover?.result === 'completed', {
    what: 'the planned failover completed',
    timeoutMs: 120_000,
  });
  const [completed] = loggedEvents(first, 'failover.completed');
  assert.ok(completed !== undefined, 'the first process emitted failover.completed');
  await killHard(first.child);
  spawned.delete(first);

  await rm(outbox);
  const receiver = await startWebhookReceiver({ secret, port: receiverPort });
  receivers.push(receiver);
  const second = await start(args);
  await waitFor(() => receiver.delivered().some((event) => event.id === completed.id), {
    what: `failover.completed ${completed.id} delivered`,
    timeoutMs: 60_000,
  });
  assert.deepEqual(
    receiver.delivered().find((event) => event.id === completed.id),
    completed,
    'the same event: same id, same body',
  );
  await outboxDrained(second);
  await killHard(second.child);
  spawned.delete(second);

  // A third start: failover.completed was handed over, it is not sent again.
  const third = await start(args);
  await outboxDrained(third);
  assert.equal(receiver.ackCounts().get(completed.id), 1, 'delivered exactly once');
  assert.ok(receiver.attempts.every((attempt) => attempt.verified));
  assert.equal(
    receiver.delivered().filter((event) => event.type === 'failover.completed').length,
    1,
  );
});
