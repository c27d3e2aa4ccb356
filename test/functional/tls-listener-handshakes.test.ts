// Connections on the TLS listener that never finish their handshake cost a socket and OpenSSL's
// state before any admission rule sees them: they are bounded. Each is closed at --auth-timeout-ms
// from its TCP accept, also when it trickles its bytes slowly (an absolute deadline); and past
// --max-clients handshakes in progress, a new connection is closed at once. A client with a good
// certificate is served again as soon as the half-open ones are gone.
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { createTestPki, standardCerts, type TestPki } from '../helpers/tls-certs.js';
import { tlsListenerArgs, tlsPing } from '../helpers/tls-client.js';
import type { HostPort } from '../../src/config/types.js';

const pkis: TestPki[] = [];
const sockets: Socket[] = [];

after(async () => {
  for (const socket of sockets) socket.destroy();
  await stopAllRbuddy();
  await stopAllRedis();
  for (const pki of pkis) await pki.remove();
});

async function tlsOnlyRbuddy(extra: string[]) {
  const pki = await createTestPki();
  pkis.push(pki);
  const certs = await standardCerts(pki);
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const rbuddy = await startRbuddy({
    master: master.address,
    active: active.address,
    standby: standby.address,
    args: [...['--listen', 'none', ...tlsListenerArgs(certs.server, pki.ca.cert)], ...extra],
  });
  const listen = rbuddy.app.proxy.tlsAddress();
  assert.ok(listen !== undefined);
  return { rbuddy, listen, pki, certs };
}

/** A TCP connection that says nothing (or only what `trickle` sends); resolves once connected. */
function halfOpen(listen: HostPort): Promise<{ socket: Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const socket = netConnect(listen.port, listen.host);
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.once('connect', () => resolve({ socket, closed: () => closed }));
    socket.once('error', reject);
  });
}

const logged = (rbuddy: RbuddyUnderTest, msg: RegExp) =>
  rbuddy.logs().some((line) => msg.test(String(line.msg)));

test('a handshake that never finishes is closed at the deadline, also when it trickles', async () => {
  const { rbuddy, listen, pki, certs } = await tlsOnlyRbuddy(['--auth-timeout-ms', '1000']);
  const silent = await halfOpen(listen);
  const trickling = await halfOpen(listen);
  // A TLS record header, one byte at a time: activity that must not push the deadline back.
  const record = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
  let sent = 0;
  const drip = setInterval(() => {
    if (sent < record.length && !trickling.closed()) {
      trickling.socket.write(Buffer.from([record[sent] ?? 0]));
      sent += 1;
    }
  }, 150);
  try {
    await waitFor(() => silent.closed() && trickling.closed(), {
      what: 'both half-open TLS connections to be closed by rbuddy',
      timeoutMs: 30_000,
    });
  } finally {
    clearInterval(drip);
  }
  assert.ok(logged(rbuddy, /no finished handshake within --auth-timeout-ms/));
  assert.equal(rbuddy.app.proxy.clientsStatus().connected, 0);
  assert.equal(await tlsPing(listen, pki.ca.cert, certs.server), '+PONG\r\n');
});

test('past --max-clients handshakes in progress, a new connection is closed at once', async () => {
  const { rbuddy, listen, pki, certs } = await tlsOnlyRbuddy([
    ...['--max-clients', '3', '--auth-timeout-ms', '60000'],
  ]);
  const held = [await halfOpen(listen), await halfOpen(listen), await halfOpen(listen)];
  const extra = await halfOpen(listen);
  await waitFor(() => extra.closed(), { what: 'the connection past the limit to be closed' });
  assert.deepEqual(
    held.map((connection) => connection.closed()),
    [false, false, false],
    'the handshakes within the limit are still waiting (their deadline is a minute away)',
  );
  assert.ok(logged(rbuddy, /too many handshakes in progress/));
  for (const connection of held) connection.socket.destroy();
  await waitFor(async () => (await tlsPing(listen, pki.ca.cert, certs.server)) === '+PONG\r\n', {
    what: 'a client with a good certificate to be served once the half-open ones are gone',
  });
});
