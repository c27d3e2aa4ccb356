// A control command that failed never runs later (src/nodes/control-client.ts): a command issued
// while the node is down waits in ioredis's offline queue, times out (its caller is told it did
// not run and decides again), and ioredis would still send it when the node is back. Nor does a
// command issued while this instance led the group run once it no longer does: written late, it
// is checked against the fence again. Real redis-server, the real control client.
//
// The client here reconnects every 100 ms and keeps a queued command across reconnects
// (retriesPerCommand): with the defaults, whether a queued command outlives its timeout until the
// node is back depends on the reconnect schedule (it did in 2 of 3 trials with the node down for
// 3 to 13 s); here it always does, so the test fails whenever a failed command is written.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { createControlClient } from '../../src/nodes/control-client.js';

const clients: Redis[] = [];
after(async () => {
  for (const client of clients) client.disconnect();
  await stopAllRedis();
});

function controlClient(
  server: RedisServer,
  options: { commandTimeoutMs: number; mayAct?: () => boolean },
): Redis {
  const client = createControlClient({
    endpoint: { address: { host: server.host, port: server.port }, user: '', password: '' },
    connectionName: 'never-late',
    connectTimeoutMs: 1_000,
    commandTimeoutMs: options.commandTimeoutMs,
    reconnect: () => 100,
    retriesPerCommand: 1_000,
    ...(options.mayAct === undefined ? {} : { mayAct: options.mayAct }),
  });
  clients.push(client);
  return client;
}

/**
 * Waits until `client` answers again after the node came back. ioredis sends its offline queue
 * when the connection becomes ready, before any later command: once PING is answered, whatever
 * was still queued has been written and run.
 */
async function answersAgain(client: Redis): Promise<void> {
  await waitFor(async () => (await client.call('PING')) === 'PONG', {
    what: 'the control client to answer again',
    timeoutMs: 20_000,
  });
}

test('a command that timed out while the node was down does not run when it is back', async () => {
  const server = await startRedis({ name: 'late-command' });
  const client = controlClient(server, { commandTimeoutMs: 500 });
  assert.equal(await client.call('PING'), 'PONG');

  await server.kill9();
  await assert.rejects(client.call('SET', 'late:plain', 'ran'), /Command timed out/);
  // A pipeline too (the idle standby is made in one MULTI/EXEC).
  const replies = await client
    .pipeline([['multi'], ['set', 'late:pipeline', 'ran'], ['exec']])
    .exec();
  assert.ok(
    replies?.every(([error]) => error !== null && /Command timed out/.test(error.message)),
    JSON.stringify(replies),
  );
  await server.restart();
  await answersAgain(client);

  const check = server.client();
  assert.equal(
    await check.get('late:plain'),
    null,
    'the timed-out SET ran when the node came back',
  );
  assert.equal(await check.get('late:pipeline'), null, 'the timed-out MULTI/EXEC ran');
});

test('a command issued while this instance led is not written once it no longer leads', async () => {
  const server = await startRedis({ name: 'fenced-command' });
  let acting = true;
  // A long command timeout: the command is still waiting when the node is back.
  const client = controlClient(server, { commandTimeoutMs: 60_000, mayAct: () => acting });
  assert.equal(await client.call('PING'), 'PONG');

  await server.kill9();
  const write = client.call('SET', 'fenced:write', 'ran');
  write.catch(() => undefined);
  acting = false;
  // A read issued while not leading (a follower observes) is not fenced.
  const read = client.call('GET', 'fenced:other');
  await server.restart();

  await assert.rejects(write, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'RBUDDY_ERR_NOT_LEADER', error.message);
    return true;
  });
  assert.equal(await read, null);
  await answersAgain(client);
  assert.equal(await server.client().get('fenced:write'), null);
  // Leading again: written at once, as always.
  acting = true;
  assert.equal(await client.call('SET', 'fenced:write', 'now'), 'OK');
});
