// rbuddy's long-lived Redis connections other than the probe — the control connections to the
// replicas and a --publish URL target — when the connection they hold goes silent for good (every
// byte lost, no FIN, no RST: harness/fault-forwarder.ts's silenceOpen()) while a new connection
// would work: the command that timed out costs that connection, and the next command runs on a
// fresh one. And a command that timed out is never sent a second time on the new connection.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pino from 'pino';
import { startFaultForwarder } from '../../harness/fault-forwarder.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { NodeClients } from '../../src/nodes/node-client.js';
import { publishTargets } from '../../src/notify/publisher.js';

const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await stopAllRedis();
});

const logger = pino({ level: 'silent' });

async function behindForwarder(): Promise<{
  fwd: Awaited<ReturnType<typeof startFaultForwarder>>;
  server: Awaited<ReturnType<typeof startRedis>>;
}> {
  const server = await startRedis({ name: 'silent-target' });
  const fwd = await startFaultForwarder({ target: { host: server.host, port: server.port } });
  closers.push(() => fwd.close());
  return { fwd, server };
}

test('a control connection that went silent is replaced: ROLE answers again', async () => {
  const { fwd } = await behindForwarder();
  const clients = new NodeClients({
    user: '',
    password: '',
    connectTimeoutMs: 1_000,
    commandTimeoutMs: 500,
    logger,
  });
  closers.push(() => clients.close());
  const node = { id: fwd.address, host: '127.0.0.1', port: fwd.port };
  assert.equal((await clients.role(node))[0], 'master');
  fwd.silenceOpen();
  await assert.rejects(clients.role(node), /Command timed out/);
  const role = await waitFor(() => clients.role(node), {
    what: 'ROLE answered on a new connection',
    timeoutMs: 20_000,
  });
  assert.equal(role[0], 'master');
});

test('a --publish URL target whose connection went silent gets the next event', async () => {
  const { fwd, server } = await behindForwarder();
  const [target] = publishTargets(
    [`redis://${fwd.address}`],
    { nodes: [], clients: { client: () => assert.fail('no replicas target') } },
    { connectTimeoutMs: 1_000, commandTimeoutMs: 500, logger },
  );
  assert.ok(target !== undefined);
  closers.push(() => target.close?.());
  const subscriber = server.client();
  const received: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => received.push(message));
  await subscriber.subscribe('events');
  await target.client().publish('events', 'one');
  fwd.silenceOpen();
  await assert.rejects(target.client().publish('events', 'lost'), /Command timed out/);
  await waitFor(() => target.client().publish('events', 'two'), {
    what: 'a PUBLISH answered on a new connection',
    timeoutMs: 20_000,
  });
  await waitFor(() => received.includes('two'), { what: 'the subscriber got the next event' });
  assert.deepEqual(
    received.filter((m) => m !== 'two'),
    ['one'],
  );
});

test('what was in flight on a dropped connection is not sent again on the next one', async () => {
  const server = await startRedis({ name: 'stopped-target' });
  const clients = new NodeClients({
    user: '',
    password: '',
    connectTimeoutMs: 1_000,
    commandTimeoutMs: 500,
    logger,
  });
  closers.push(() => clients.close());
  const node = { id: server.address, host: server.host, port: server.port };
  const control = clients.client(node);
  await control.set('counter', '0');
  // A stopped server leaves both INCRs unanswered (they run once each, on SIGCONT, from the old
  // socket's buffer). The first times out and its connection is dropped; the second, in flight
  // behind it, fails then too. Neither may be sent again on the new connection.
  server.pause();
  const first = control.incr('counter');
  await waitFor(() => control.commandQueue.length === 1, { what: 'the first INCR written' });
  const second = control.incr('counter');
  await assert.rejects(first, /Command timed out/);
  await assert.rejects(second, /Command aborted/);
  server.resume();
  await waitFor(async () => (await control.get('counter')) === '2', {
    what: 'the two INCRs run once each',
    timeoutMs: 20_000,
  });
  // The new connection answered a command: whatever it would resend has been sent.
  assert.equal(await control.get('counter'), '2');
});
