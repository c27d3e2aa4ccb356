// The lingering close after a reply that leaves a body unread (src/http/lingering-close.ts), on a
// real node:http server on loopback: it also proves the hook node:http calls (destroySoon) is
// still the one it calls. Closed at once, the server's kernel resets the bytes that follow the
// reply, and a client still writing its body sees EPIPE or ECONNRESET, often before the reply.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { lingerOnClose } from '../../src/http/lingering-close.js';
import type { LingerLimits } from '../../src/lingering-close.js';
import { waitFor } from '../../harness/wait-for.js';

const LIMITS: LingerLimits = { ms: 300, bytes: 256 * 1024 };
let limits = LIMITS;
let server: Server;
let port = 0;
const handled: string[] = [];
let lingering = true;
let lastAccepted: Socket | undefined;

before(async () => {
  server = createServer((request, response) => {
    handled.push(`${request.method ?? ''} ${request.url ?? ''}`);
    if (lingering) lingerOnClose(request.socket, limits);
    response.writeHead(413, { connection: 'close' });
    response.end('refused\n');
  });
  server.on('connection', (socket: Socket) => {
    lastAccepted = socket;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Client {
  socket: Socket;
  received: () => string;
  ended: () => boolean;
  closed: () => boolean;
  error: () => Error | undefined;
}

async function open(): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let ended = false;
  let closed = false;
  let failure: Error | undefined;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => {
    ended = true;
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', (error) => {
    failure = error;
  });
  return {
    socket,
    received: () => Buffer.concat(chunks).toString('latin1'),
    ended: () => ended,
    closed: () => closed,
    error: () => failure,
  };
}

const write = (socket: Socket, bytes: string): Promise<Error | undefined> =>
  new Promise((resolve) => socket.write(bytes, (error) => resolve(error ?? undefined)));

const HEAD = 'POST /v1/failover HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n';

async function bodyAfterTheReply(): Promise<{ client: Client; failures: (Error | undefined)[] }> {
  const client = await open();
  await write(client.socket, HEAD);
  await waitFor(() => client.ended(), { what: 'the reply and the server FIN', timeoutMs: 10_000 });
  // The client goes on sending the body it announced, as a client that does not read replies
  // before it has sent its request does, then closes its side.
  const failures: (Error | undefined)[] = [];
  for (let i = 0; i < 20; i += 1) failures.push(await write(client.socket, 'x'.repeat(4096)));
  client.socket.end();
  await waitFor(() => client.closed(), { what: 'the connection to close', timeoutMs: 10_000 });
  return { client, failures };
}

test('the body sent after the reply is read and dropped: the client gets the reply and a clean close', async () => {
  const { client, failures } = await bodyAfterTheReply();
  assert.match(client.received(), /^HTTP\/1\.1 413 /);
  assert.deepEqual(failures.filter(Boolean), []);
  assert.equal(client.error(), undefined);
});

test('without it, the same client is reset (the case the lingering close is for)', async () => {
  lingering = false;
  try {
    const { client, failures } = await bodyAfterTheReply();
    const errors = [...failures, client.error()].filter(Boolean);
    assert.ok(errors.length > 0, 'a client writing after an immediate close was never reset');
  } finally {
    lingering = true;
  }
});

test('nothing read after the reply is parsed: a request sent after it is never handled', async () => {
  handled.length = 0;
  const client = await open();
  await write(client.socket, HEAD);
  await waitFor(() => client.ended(), { what: 'the reply', timeoutMs: 10_000 });
  await write(client.socket, 'GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  client.socket.end();
  await waitFor(() => client.closed(), { what: 'the connection to close', timeoutMs: 10_000 });
  assert.deepEqual(handled, ['POST /v1/failover']);
});

test('a client that keeps its side open and silent is closed after the time limit', async () => {
  lastAccepted = undefined;
  const client = await open();
  await waitFor(() => lastAccepted !== undefined, { what: 'the accept', timeoutMs: 10_000 });
  const accepted = lastAccepted as Socket | undefined;
  await write(client.socket, HEAD);
  await waitFor(() => client.ended(), { what: 'the reply', timeoutMs: 10_000 });
  assert.equal(accepted?.destroyed, false, 'closed at once, not lingering');
  await waitFor(() => accepted?.destroyed === true, {
    what: 'the server to give up',
    timeoutMs: 10_000,
  });
  assert.match(client.received(), /^HTTP\/1\.1 413 /);
  client.socket.destroy();
});

test('a client that keeps sending is cut off past the byte limit', async (t) => {
  // No time limit to speak of here: only the bytes can cut this client off.
  limits = { ...LIMITS, ms: 600_000 };
  t.after(() => {
    limits = LIMITS;
  });
  const client = await open();
  await write(client.socket, HEAD);
  await waitFor(() => client.ended(), { what: 'the reply', timeoutMs: 10_000 });
  const bytes = 'y'.repeat(64 * 1024);
  let sent = 0;
  // A write fails once the server is gone.
  while ((await write(client.socket, bytes)) === undefined && sent < 64 * LIMITS.bytes) {
    sent += bytes.length;
  }
  await waitFor(() => client.closed(), { what: 'the server to cut off', timeoutMs: 10_000 });
  assert.ok(sent >= LIMITS.bytes, `cut off after ${sent} bytes, under the limit`);
  assert.ok(sent < 64 * LIMITS.bytes, 'never cut off');
});
