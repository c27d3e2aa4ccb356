// The chaos run's link faults (harness/fault-forwarder.ts) on real loopback sockets: every mode
// but the blackhole delivers every byte in order, a stall loses nothing, a blackhole drops bytes
// and passes no FIN and resets its connections when it lifts, a reset ends every connection, and
// a peer that does not read stops the forwarder reading the other side (backpressure).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { startFaultForwarder, type FaultForwarder } from '../../harness/fault-forwarder.js';
import { waitFor } from '../../harness/wait-for.js';

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers) await close();
});

/** An upstream that keeps what it receives per connection and can send to each. */
async function upstream(): Promise<{
  server: Server;
  port: number;
  peers: Socket[];
  got: Buffer[];
  ended: boolean[];
}> {
  const peers: Socket[] = [];
  const got: Buffer[] = [];
  const ended: boolean[] = [];
  const server = createServer((socket) => {
    const index = peers.push(socket) - 1;
    got[index] = Buffer.alloc(0);
    ended[index] = false;
    socket.on(
      'data',
      (data: Buffer) => (got[index] = Buffer.concat([got[index] ?? Buffer.alloc(0), data])),
    );
    socket.on('end', () => (ended[index] = true));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  closers.push(async () => {
    for (const peer of peers) peer.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: address.port, peers, got, ended };
}

async function setUp(): Promise<{
  up: Awaited<ReturnType<typeof upstream>>;
  fwd: FaultForwarder;
  client: Socket;
  received: () => Buffer;
  closed: () => boolean;
}> {
  const up = await upstream();
  const fwd = await startFaultForwarder({ target: { host: '127.0.0.1', port: up.port } });
  closers.push(() => fwd.close());
  const client = connect(fwd.port, '127.0.0.1');
  client.on('error', () => undefined);
  let received = Buffer.alloc(0);
  let closed = false;
  client.on('data', (data: Buffer) => (received = Buffer.concat([received, data])));
  client.on('close', () => (closed = true));
  await waitFor(() => up.peers.length === 1, { what: 'the upstream connection', timeoutMs: 5_000 });
  return { up, fwd, client, received: () => received, closed: () => closed };
}

test('pass, latency and bandwidth deliver every byte in order, both ways', async () => {
  const { up, fwd, client, received } = await setUp();
  let sent = Buffer.alloc(0);
  let back = Buffer.alloc(0);
  for (const mode of [
    { kind: 'pass' },
    { kind: 'latency', ms: 30 },
    { kind: 'bandwidth', bytesPerSecond: 2_000_000 },
  ] as const) {
    fwd.setMode(mode);
    const chunk = randomBytes(200_000);
    sent = Buffer.concat([sent, chunk]);
    client.write(chunk);
    const reply = randomBytes(100_000);
    back = Buffer.concat([back, reply]);
    up.peers[0]?.write(reply);
    await waitFor(() => up.got[0]?.length === sent.length && received().length === back.length, {
      what: `bytes through ${mode.kind}`,
      timeoutMs: 20_000,
    });
  }
  assert.ok(up.got[0]?.equals(sent));
  assert.ok(received().equals(back));
});

test('a one-way stall holds that direction, loses nothing, and the other direction flows', async () => {
  const { up, fwd, client, received } = await setUp();
  fwd.setMode({ kind: 'stall', direction: 'up' });
  client.write('held');
  up.peers[0]?.write('flows');
  await waitFor(() => received().toString() === 'flows', {
    what: 'the down direction',
    timeoutMs: 5_000,
  });
  assert.equal(up.got[0]?.length, 0);
  fwd.setMode({ kind: 'pass' });
  await waitFor(() => up.got[0]?.toString() === 'held', {
    what: 'the stalled bytes',
    timeoutMs: 5_000,
  });
});

test('a blackhole drops bytes and passes no FIN; when it lifts the connection is reset', async () => {
  const { up, fwd, client, closed } = await setUp();
  fwd.setMode({ kind: 'blackhole' });
  client.write('lost');
  client.end();
  // The forwarder read the bytes (and dropped them); the client's FIN crossed nothing either.
  await waitFor(() => fwd.dropped === 4, { what: 'the bytes dropped', timeoutMs: 5_000 });
  assert.equal(closed(), false, 'no FIN came back to the client');
  assert.equal(up.ended[0], false);
  assert.equal(up.got[0]?.length, 0);
  fwd.setMode({ kind: 'pass' });
  await waitFor(() => closed() && fwd.connections === 0, { what: 'the reset', timeoutMs: 5_000 });
  assert.equal(up.got[0]?.length, 0);
});

test('resetAll ends every connection', async () => {
  const { fwd, closed } = await setUp();
  fwd.resetAll();
  await waitFor(() => closed(), { what: 'the client closed', timeoutMs: 5_000 });
  assert.equal(fwd.connections, 0);
});

test('an upstream that does not read stops the forwarder reading the client', async () => {
  const { up, client } = await setUp();
  up.peers[0]?.pause();
  const chunk = Buffer.alloc(1024 * 1024);
  let writes = 0;
  // The kernel's buffers and the forwarder's mark fill up, then the client's writes queue.
  while (client.write(chunk) && writes < 512) writes += 1;
  assert.ok(writes < 512, 'backpressure reached the client');
  up.peers[0]?.resume();
  await waitFor(() => client.writableLength === 0, {
    what: 'the queue drained',
    timeoutMs: 30_000,
  });
});
