// Which open connections could be a replica's replication handshake (the "rivals" that keep a claim
// from being confirmed: docs/design.md, "Identity of a replica"): silent and handshake-only
// connections count; application clients, connections claiming another port, and connections that
// idled past the handshake window do not — so an idle stranger cannot block a real replica forever.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { ClientConnection } from '../../src/proxy/client-connection.js';
import { SILENT_WINDOW_MS } from '../../src/proxy/replica-claim.js';
import { WarnThrottle } from '../../src/log-throttle.js';
import { encodeCommand } from '../../src/resp/encode.js';
import { waitFor } from '../../harness/wait-for.js';

const silent = pino({ level: 'silent' });
const accepted: ClientConnection[] = [];
const sockets: Socket[] = [];
const server = createServer((socket) => {
  accepted.push(
    new ClientConnection({
      socket,
      id: `c${accepted.length + 1}`,
      listenPassword: '',
      logger: silent,
      commands: new Map([['sentinel', () => 'ok']]),
      onSyncRequest: () => Promise.resolve('not in this test'),
    }),
  );
});

after(() => {
  for (const socket of sockets) socket.destroy();
  server.close();
});

async function open(): Promise<{ socket: Socket; conn: ClientConnection; replies: () => string }> {
  if (!server.listening)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const before = accepted.length;
  const socket = connect({ host: '127.0.0.1', port: address.port });
  sockets.push(socket);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const conn = await waitFor(() => accepted[before], { what: 'the connection accepted' });
  return { socket, conn, replies: () => text };
}

/**
 * A listener whose connections refuse every sync; resolves with its port and a way to send a
 * refused SYNC (with `after` pipelined behind it) that waits for the refusal.
 */
async function refusingListener(
  options: { logger?: Logger; warnings?: WarnThrottle; onClose?: () => void } = {},
): Promise<{ server: Server; refusedSync: (after?: Buffer) => Promise<Socket> }> {
  const server = createServer((socket) => {
    if (options.onClose !== undefined) socket.once('close', options.onClose);
    new ClientConnection({
      socket,
      id: 'r',
      listenPassword: '',
      logger: options.logger ?? silent,
      ...(options.warnings === undefined ? {} : { warnings: options.warnings }),
      commands: new Map(),
      onSyncRequest: () => Promise.resolve('sent no REPLCONF listening-port'),
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const refusedSync = async (after: Buffer = Buffer.alloc(0)): Promise<Socket> => {
    const socket = connect({ host: '127.0.0.1', port: address.port });
    sockets.push(socket);
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write(Buffer.concat([Buffer.from('SYNC\r\n'), after]));
    await waitFor(() => text.includes('not a configured replica'), { what: 'the refusal' });
    return socket;
  };
  return { server, refusedSync };
}

test('a silent or handshake-only connection could be a replica on any port, for a while', async () => {
  const { socket, conn, replies } = await open();
  assert.equal(conn.couldBeReplicaOn(6379), true, 'silent: its first bytes may be in flight');
  socket.write(encodeCommand(['PING']));
  socket.write(encodeCommand(['REPLCONF', 'listening-port', '6379']));
  await waitFor(() => replies().includes('+OK'), { what: 'the REPLCONF answered' });
  assert.equal(conn.couldBeReplicaOn(6379), true);
  assert.equal(conn.couldBeReplicaOn(6380), false, 'it claimed another port');
  assert.equal(
    conn.couldBeReplicaOn(6379, {}, Date.now() + 60_000),
    false,
    'idle past the handshake window: no replica takes that long to send its PSYNC',
  );
});

test('a connection silent past the first second is no handshake; one that spoke stays a rival', async () => {
  // Idle strangers from a replica's own address held its identification back for the whole
  // handshake window (a replica reconnecting after a CLIENT KILL took 4 s instead of 0.3 s).
  const silent = await open();
  const later = silent.conn.openedAt + SILENT_WINDOW_MS + 1;
  assert.equal(silent.conn.couldBeReplicaOn(6379, {}, later), false, 'silent for over a second');
  const spoke = await open();
  spoke.socket.write(encodeCommand(['PING']));
  await waitFor(() => spoke.replies().includes('+PONG'), { what: 'the PING answered' });
  assert.equal(
    spoke.conn.couldBeReplicaOn(6379, {}, spoke.conn.openedAt + SILENT_WINDOW_MS + 1),
    true,
    'it said what a replica says first: a rival until the handshake window ends',
  );
});

test('an application client (discovery, unknown commands) is no replica', async () => {
  const { socket, conn, replies } = await open();
  socket.write(encodeCommand(['SENTINEL', 'masters']));
  await waitFor(() => replies().length > 0, { what: 'the reply' });
  assert.equal(conn.couldBeReplicaOn(6379), false);
});

test('a refused SYNC with data pipelined after it is closed and forgotten, not kept forever', async () => {
  // Found by a fuzzer: the unread input of the paused socket kept 'close' from ever firing, so
  // each such connection stayed counted against --max-clients with its buffers.
  const closed: string[] = [];
  const { server, refusedSync } = await refusingListener({
    onClose: () => closed.push('server side'),
  });
  try {
    const socket = await refusedSync(
      Buffer.concat([
        encodeCommand(['PING', 'x'.repeat(100_000)]),
        encodeCommand(['PING', 'y'.repeat(100_000)]),
      ]),
    );
    socket.destroy();
    await waitFor(() => closed.length === 1, { what: 'the server side of the connection closed' });
  } finally {
    server.close();
  }
});

test('what a stranger cannot fake narrows the rivals: the node’s own user, its address', async () => {
  const { socket, conn, replies } = await open();
  socket.write(encodeCommand(['PING']));
  await waitFor(() => replies().includes('PONG'), { what: 'PONG' });
  assert.equal(conn.couldBeReplicaOn(6379, { boundUser: 'replica-a' }), false, 'not AUTHed as it');
  assert.equal(conn.couldBeReplicaOn(6379, { fromAddresses: new Set(['10.0.0.5']) }), false);
  assert.equal(conn.couldBeReplicaOn(6379, { fromAddresses: new Set(['127.0.0.1']) }), true);
});

test('refused syncs repeated by a stranger are one warning per interval, the rest counted', async () => {
  // Found by review: one warning line per refused claim, 17 MB of log in 30 s.
  const lines: { level: number; msg: string; suppressed?: number }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
  );
  const warnings = new WarnThrottle({ intervalMs: 60_000 });
  const { server, refusedSync } = await refusingListener({ logger, warnings });
  try {
    for (let i = 0; i < 5; i++) (await refusedSync()).destroy();
    const refused = lines.filter((line) => line.msg === 'sync refused: not a configured replica');
    assert.equal(refused.length, 5, 'every refusal is in the log');
    assert.equal(refused.filter((line) => line.level === 40).length, 1, 'one of them a warning');
  } finally {
    server.close();
  }
});
