// The TLS test helpers against Debian's redis-server 7.0 (built with TLS), no proxy involved: the
// throwaway PKI is one Redis accepts, ioredis talks to it over TLS with and without client
// certificates as tls-auth-clients demands, and a replica with tls-replication yes syncs from
// it byte-exact. If these pass, a failing TLS test of the proxy is about the proxy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { Redis } from 'ioredis';
import { isPidAlive } from '../../harness/processes.js';
import { startTlsRedis, stopAllTlsRedis, type TlsRedis } from '../helpers/redis-tls.js';
import {
  createTestPki,
  standardCerts,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import { waitFor } from '../../harness/wait-for.js';

let pki: TestPki;
let certs: StandardCerts;

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
});
after(async () => {
  await stopAllTlsRedis();
  await pki.remove();
});

/** One command on a fresh client that never retries; resolves to the reply or the error. */
async function tryPing(server: TlsRedis, tls: ReturnType<TlsRedis['tlsOptions']>): Promise<string> {
  const client = new Redis({
    host: server.host,
    port: server.tlsPort,
    tls,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3_000,
  });
  // ioredis rejects with "Connection is closed"; the TLS reason comes as an 'error' event.
  let cause = '';
  client.on('error', (error: Error) => (cause ||= error.message));
  try {
    await client.connect();
    return await client.ping();
  } catch (error) {
    return `refused: ${cause || (error as Error).message}`;
  } finally {
    client.disconnect();
  }
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)\\r?$`, 'm').exec(info)?.[1]?.trim();
}

void describe('redis-server over TLS with the test PKI', () => {
  let master: TlsRedis;
  before(async () => {
    master = await startTlsRedis({
      name: 'tls-master',
      server: certs.server,
      ca: pki.ca.cert,
      authClients: 'yes',
      args: { 'repl-diskless-sync-delay': 0 },
    });
  });

  void test("tls-auth-clients yes: a client certificate of the CA gets in; none, or a stranger's, does not", async () => {
    assert.equal(await tryPing(master, master.tlsOptions(certs.replicaA)), 'PONG');
    assert.match(await tryPing(master, master.tlsOptions()), /^refused/);
    assert.match(await tryPing(master, master.tlsOptions(certs.foreign)), /^refused/);
  });

  void test("the client verifies the server: a CA that is not the server's is refused", async () => {
    const wrongCa = { ...master.tlsOptions(certs.replicaA), ca: readFileSync(pki.otherCa.cert) };
    // redis-server sends its CA along with its certificate (OpenSSL completes the chain from
    // tls-ca-cert-file), so the client sees a self-signed root it does not trust.
    assert.match(
      await tryPing(master, wrongCa),
      /refused: self-signed certificate in certificate chain/,
    );
  });

  void test('plain text on the TLS port gets no answer', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = netConnect(master.tlsPort, '127.0.0.1', () => socket.write('PING\r\n'));
      let text = '';
      socket.setTimeout(3_000, () => socket.destroy());
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
    });
    assert.doesNotMatch(answer, /PONG/);
  });

  void test('a replica with tls-replication yes syncs over TLS, byte-exact', async () => {
    const writer = master.client();
    for (let i = 0; i < 500; i += 1) await writer.set(`key:${i}`, `value:${i}:${'x'.repeat(i)}`);
    const replica = await startTlsRedis({
      name: 'tls-replica',
      server: certs.server,
      ca: pki.ca.cert,
      args: { 'tls-replication': 'yes', replicaof: `127.0.0.1 ${master.tlsPort}` },
    });
    const reader = replica.client();
    await waitFor(
      async () => {
        const info = await reader.info('replication');
        return (
          field(info, 'master_link_status') === 'up' &&
          field(info, 'master_sync_in_progress') === '0'
        );
      },
      {
        what: 'the TLS replica to finish its sync',
        explain: () => `${replica.logTail()}\n--- master\n${master.logTail()}`,
      },
    );
    await writer.set('after-sync', 'streamed');
    await waitFor(async () => (await reader.get('after-sync')) === 'streamed', {
      what: 'the stream to reach the replica',
    });
    assert.equal(await reader.call('DEBUG', 'DIGEST'), await writer.call('DEBUG', 'DIGEST'));
    const masterInfo = await writer.info('replication');
    assert.equal(field(masterInfo, 'connected_slaves'), '1');
  });

  void test('a replica presenting a client-only certificate (tls-client-cert-file) syncs too', async () => {
    const replica = await startTlsRedis({
      name: 'tls-replica-client-cert',
      server: certs.server,
      ca: pki.ca.cert,
      args: {
        'tls-replication': 'yes',
        'tls-client-cert-file': certs.replicaB.cert,
        'tls-client-key-file': certs.replicaB.key,
        replicaof: `127.0.0.1 ${master.tlsPort}`,
      },
    });
    await waitFor(
      async () => field(await replica.client().info('replication'), 'master_link_status') === 'up',
      {
        what: 'the replica with its own client certificate to link up',
        explain: () => replica.logTail(),
      },
    );
  });

  void test("a replica whose client certificate is a stranger's never links up", async () => {
    const replica = await startTlsRedis({
      name: 'tls-replica-stranger',
      server: certs.server,
      ca: pki.ca.cert,
      args: {
        'tls-replication': 'yes',
        'tls-client-cert-file': certs.foreign.cert,
        'tls-client-key-file': certs.foreign.key,
        replicaof: `127.0.0.1 ${master.tlsPort}`,
      },
    });
    // The master logs each refused handshake; wait for one, then check the link is down.
    await waitFor(() => /Error accepting a client connection/i.test(master.logTail(200)), {
      what: 'the master to refuse the stranger',
      explain: () => `${replica.logTail()}\n--- master\n${master.logTail()}`,
    });
    assert.notEqual(field(await replica.client().info('replication'), 'master_link_status'), 'up');
  });

  void test('every process is stopped by its PID', async () => {
    const extra = await startTlsRedis({
      name: 'tls-extra',
      server: certs.server,
      ca: pki.ca.cert,
      authClients: 'no',
    });
    const pid = extra.pid;
    assert.equal(isPidAlive(pid), true);
    await extra.stop();
    assert.equal(isPidAlive(pid), false);
  });
});
