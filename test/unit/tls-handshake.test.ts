// Real TLS on 127.0.0.1:0 with the building blocks: a rotation reaches new connections while an
// established one keeps working on the old certificate; the client options verify the CA, the
// validity period and the name; --tls-auth-clients yes / optional / no as Redis has them; every
// refusal is described in words (plain text on the TLS port, unknown CA, expired, name mismatch,
// a stranger's client certificate).
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as netConnect, createServer as createPlain, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  connect,
  createServer,
  type ConnectionOptions,
  type Server,
  type TLSSocket,
} from 'node:tls';
import {
  ioredisTlsOptions,
  tlsConnectOptions,
  type TlsTarget,
} from '../../src/tls/client-tls-options.js';
import {
  verifiedPeerCertificate,
  certificateNames,
  matchIdentity,
  parseIdentityPatterns,
} from '../../src/tls/peer-identity.js';
import { ReloadableTls, type TlsMaterialSource } from '../../src/tls/reloadable-tls.js';
import {
  checkClientCertificates,
  keepServerCurrent,
  tlsServerOptions,
  type TlsAuthClients,
} from '../../src/tls/server-tls.js';
import { describeTlsFailure, type TlsFailureKind } from '../../src/tls/tls-failure.js';
import { loadTlsMaterial, TLS_OPTION_NAMES, type TlsFiles } from '../../src/tls/tls-material.js';
import {
  createTestPki,
  standardCerts,
  type CertFiles,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import { waitFor } from '../../harness/wait-for.js';

let pki: TestPki;
let certs: StandardCerts;
const cleanups: Array<() => void | Promise<void>> = [];

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(() => pki.remove());

async function fixed(files: TlsFiles, requireCertificate = false): Promise<TlsMaterialSource> {
  const material = await loadTlsMaterial(files, {
    names: TLS_OPTION_NAMES.master,
    requireCertificate,
  });
  return { current: material };
}

interface Listener {
  server: Server;
  port: number;
  accepted: Array<{ socket: TLSSocket; verified: boolean }>;
  refused: string[];
  tlsErrors: unknown[];
}

/** An echo server: each accepted connection answers every chunk with the same bytes. */
async function listen(source: TlsMaterialSource, authClients: TlsAuthClients): Promise<Listener> {
  const accepted: Listener['accepted'] = [];
  const refused: string[] = [];
  const tlsErrors: unknown[] = [];
  const server = createServer(
    tlsServerOptions(source, authClients),
    checkClientCertificates(
      authClients,
      (socket, verified) => {
        accepted.push({ socket, verified });
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
        socket.on('error', () => undefined);
      },
      (socket, reason) => {
        refused.push(reason);
        socket.end(`-ERR ${reason}\r\n`);
      },
    ),
  );
  server.on('tlsClientError', (error) => tlsErrors.push(error));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => sockets.add(socket));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as AddressInfo).port, accepted, refused, tlsErrors };
}

/** Connects and resolves on the handshake, or rejects with the client's error. */
function dial(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, ...options }, () => resolve(socket));
    socket.once('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

/** Sends a line and waits for it to come back. */
async function echo(socket: TLSSocket, text: string): Promise<void> {
  const reply = new Promise<string>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('error', reject);
  });
  socket.write(text);
  assert.equal(await reply, text);
}

async function clientFailure(port: number, options: ConnectionOptions): Promise<TlsFailureKind> {
  const error = await dial(port, options).then(
    () => assert.fail('the handshake succeeded'),
    (caught: unknown) => caught,
  );
  return describeTlsFailure(error, 'client').kind;
}

const localhost: TlsTarget = { host: '127.0.0.1' };

void describe('rotation on a live server', () => {
  void test('a live connection keeps working; a new one sees the new certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbuddy-tls-rotate-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: pki.ca.cert };
    await copyFile(certs.server.cert, files.cert);
    await copyFile(certs.server.key, files.key);
    const tls = await ReloadableTls.load(files, {
      hop: 'listener',
      names: TLS_OPTION_NAMES.listener,
      requireCertificate: true,
    });
    cleanups.push(() => tls.close());
    const listener = await listen(tls, 'no');
    cleanups.push(keepServerCurrent(listener.server, tls));
    const client = await fixed({ ca: pki.ca.cert });

    const live = await dial(listener.port, tlsConnectOptions(client, localhost));
    const oldPrint = live.getPeerCertificate().fingerprint256;
    await echo(live, 'before');

    await copyFile(certs.serverNext.cert, files.cert);
    await copyFile(certs.serverNext.key, files.key);
    assert.equal((await tls.reload('sighup')).outcome, 'reloaded');
    const newPrint = tls.current.certificate?.fingerprint256;
    assert.notEqual(newPrint, oldPrint);

    await echo(live, 'after the rotation');
    assert.equal(live.getPeerCertificate().fingerprint256, oldPrint);
    const fresh = await dial(listener.port, tlsConnectOptions(client, localhost));
    assert.equal(fresh.getPeerCertificate().fingerprint256, newPrint);
    await echo(fresh, 'new');
    await echo(live, 'still there');
  });

  void test('ioredis-style options read the current material at every connect', async () => {
    const first = await loadTlsMaterial(
      { ca: pki.otherCa.cert },
      { names: TLS_OPTION_NAMES.replica, requireCertificate: false },
    );
    const second = await loadTlsMaterial(
      { ca: pki.ca.cert },
      { names: TLS_OPTION_NAMES.replica, requireCertificate: false },
    );
    const source = { current: first };
    const options = ioredisTlsOptions(source, localhost);
    const listener = await listen(await fixed({ ...certs.server }, true), 'no');
    // What ioredis does per connect: copy the `tls` object into tls.connect's options.
    const copy = (): ConnectionOptions => Object.assign({}, options);
    assert.equal(await clientFailure(listener.port, copy()), 'unknown-ca');
    source.current = second;
    await dial(listener.port, copy());
  });
});

void describe('the client verifies the server', () => {
  let client: TlsMaterialSource;
  before(async () => {
    client = await fixed({ ca: pki.ca.cert });
  });

  const serverWith = async (files: CertFiles): Promise<Listener> => {
    // Build the server's context directly: the loader would refuse these certificates.
    const material = await loadTlsMaterial(
      {},
      { names: TLS_OPTION_NAMES.listener, requireCertificate: false },
    );
    const contextOptions = {
      cert: await readFile(files.cert, 'utf8'),
      key: await readFile(files.key, 'utf8'),
    };
    return listen({ current: { ...material, contextOptions } }, 'no');
  };

  void test('a certificate of another CA: unknown-ca', async () => {
    const listener = await serverWith(certs.foreign);
    assert.equal(
      await clientFailure(listener.port, tlsConnectOptions(client, localhost)),
      'unknown-ca',
    );
  });

  void test('an expired certificate: expired; a future one: not-yet-valid', async () => {
    const expired = await serverWith(certs.expired);
    assert.equal(
      await clientFailure(expired.port, tlsConnectOptions(client, localhost)),
      'expired',
    );
    const future = await serverWith(certs.notYetValid);
    assert.equal(
      await clientFailure(future.port, tlsConnectOptions(client, localhost)),
      'not-yet-valid',
    );
  });

  void test('the expected name: --master-tls-servername, DNS or IP', async () => {
    const listener = await serverWith(certs.server);
    await dial(
      listener.port,
      tlsConnectOptions(client, { host: '127.0.0.1', servername: 'localhost' }),
    );
    await dial(listener.port, tlsConnectOptions(client, { host: 'localhost' }));
    assert.equal(
      await clientFailure(
        listener.port,
        tlsConnectOptions(client, { host: '127.0.0.1', servername: 'master.test' }),
      ),
      'name-mismatch',
    );
    // An IP to verify is checked against the IP SANs even when connecting by name.
    await dial(
      listener.port,
      tlsConnectOptions(client, { host: 'localhost', servername: '127.0.0.1' }),
    );
    assert.equal(
      await clientFailure(
        listener.port,
        tlsConnectOptions(client, { host: 'localhost', servername: '10.9.9.9' }),
      ),
      'name-mismatch',
    );
  });

  void test('a TLS client on a plain port: not-tls', async () => {
    const plain = createPlain((socket) =>
      socket.on('data', () => socket.end('-ERR unknown command\r\n')),
    );
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => plain.close(() => resolve())));
    const port = (plain.address() as AddressInfo).port;
    assert.equal(await clientFailure(port, tlsConnectOptions(client, localhost)), 'not-tls');
  });
});

void describe('the server checks clients (--tls-auth-clients)', () => {
  let server: TlsMaterialSource;
  before(async () => {
    server = await fixed({ ...certs.server, ca: pki.ca.cert }, true);
  });
  // The loader refuses to present an expired certificate: a client that does not check.
  const rawClient = async (files: CertFiles): Promise<ConnectionOptions> => ({
    host: '127.0.0.1',
    ca: await readFile(pki.ca.cert, 'utf8'),
    cert: await readFile(files.cert, 'utf8'),
    key: await readFile(files.key, 'utf8'),
  });
  const asClient = async (files?: CertFiles): Promise<ConnectionOptions> =>
    tlsConnectOptions(await fixed({ ...files, ca: pki.ca.cert }), localhost);

  /** Connects and reads what the server says before it hangs up (its -ERR), if anything. */
  const refusedWith = async (listener: Listener, options: ConnectionOptions): Promise<string> => {
    const socket = await dial(listener.port, options);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await new Promise((resolve) => socket.once('close', resolve));
    return text;
  };

  void test('yes: a client certificate of the CA is accepted and verified, and names its node', async () => {
    const listener = await listen(server, 'yes');
    const socket = await dial(listener.port, await asClient(certs.replicaA));
    await echo(socket, 'hello');
    const [entry] = listener.accepted;
    assert.equal(entry?.verified, true);
    const peer = entry === undefined ? undefined : verifiedPeerCertificate(entry.socket);
    assert.ok(peer !== undefined);
    const names = certificateNames(peer);
    assert.equal(
      matchIdentity(names, parseIdentityPatterns('uri:spiffe://test/replica-a', 'k')).matched,
      true,
    );
    assert.equal(
      matchIdentity(names, parseIdentityPatterns('cn:replica-b, dns:replica-b.test', 'k')).matched,
      false,
    );
  });

  void test("yes: no certificate, a stranger's, or an expired one is refused with the reason", async () => {
    const listener = await listen(server, 'yes');
    assert.match(
      await refusedWith(listener, await asClient()),
      /-ERR no client certificate presented/,
    );
    assert.match(
      await refusedWith(listener, await asClient(certs.foreign)),
      /-ERR client certificate refused: the client's certificate does not chain to the configured CA/,
    );
    assert.match(
      await refusedWith(listener, await rawClient(certs.expired)),
      /-ERR client certificate refused: the client's certificate has expired/,
    );
    assert.equal(listener.accepted.length, 0);
    assert.equal(listener.refused.length, 3);
  });

  void test('optional: no certificate is accepted unverified; a bad one is refused', async () => {
    const listener = await listen(server, 'optional');
    await echo(await dial(listener.port, await asClient()), 'anonymous');
    assert.equal(listener.accepted[0]?.verified, false);
    assert.equal(verifiedPeerCertificate(listener.accepted[0]?.socket ?? assert.fail()), undefined);
    assert.match(
      await refusedWith(listener, await asClient(certs.foreign)),
      /-ERR client certificate refused/,
    );
    await echo(await dial(listener.port, await asClient(certs.replicaB)), 'known');
    assert.equal(listener.accepted[1]?.verified, true);
  });

  void test('no: no certificate is asked for', async () => {
    const listener = await listen(server, 'no');
    await echo(await dial(listener.port, await asClient(certs.replicaA)), 'x');
    assert.equal(listener.accepted[0]?.verified, false);
  });

  void test('plain text to the TLS port is reported as such and gets nothing back', async () => {
    const listener = await listen(server, 'no');
    const answer = await new Promise<string>((resolve) => {
      const socket = netConnect(listener.port, '127.0.0.1', () =>
        socket.write('*1\r\n$4\r\nPING\r\n'),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
    });
    assert.doesNotMatch(answer, /PONG/);
    await waitFor(() => listener.tlsErrors.length > 0, {
      what: 'the server to see the plain-text client',
    });
    assert.equal(describeTlsFailure(listener.tlsErrors[0], 'server').kind, 'not-tls');
    assert.match(
      describeTlsFailure(listener.tlsErrors[0], 'server').text,
      /plain-text client on the TLS port/,
    );
  });
});
