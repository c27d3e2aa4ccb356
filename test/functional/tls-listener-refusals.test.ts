// What the TLS listener refuses, and that each refusal says why: plain text on the TLS port, a
// client certificate from another CA, an expired one, and the certificate of a stranger (a valid
// CA, names matching neither configured node) on a connection claiming a configured replica,
// which never syncs: the master sees no replica. rbuddy runs TLS-only (--listen none).
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  createTestPki,
  standardCerts,
  type CertFiles,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import { tlsListenerArgs, tlsPing } from '../helpers/tls-client.js';
import type { HostPort } from '../../src/config/types.js';

describe('the TLS RESP listener: refusals', () => {
  let pki: TestPki;
  let certs: StandardCerts;
  let master: RedisServer;
  let active: RedisServer;
  let rbuddy: RbuddyUnderTest;
  let tlsListen: HostPort;

  const logged = (msg: string | RegExp, field?: string, value?: RegExp) =>
    rbuddy
      .logs()
      .filter(
        (line) =>
          (typeof msg === 'string' ? line.msg === msg : msg.test(String(line.msg))) &&
          (field === undefined || value === undefined || value.test(String(line[field]))),
      );

  const tlsExchange = (cert: CertFiles): Promise<string> => tlsPing(tlsListen, pki.ca.cert, cert);

  before(async () => {
    pki = await createTestPki();
    certs = await standardCerts(pki);
    [master, active] = await Promise.all([
      startRedis({ name: 'master' }),
      startRedis({
        name: 'active',
        args: {
          'tls-cert-file': certs.server.cert,
          'tls-key-file': certs.server.key,
          'tls-ca-cert-file': pki.ca.cert,
          'tls-replication': 'yes',
          // A certificate of the right CA whose names are not the active's (127.0.0.1).
          'tls-client-cert-file': certs.replicaA.cert,
          'tls-client-key-file': certs.replicaA.key,
        },
      }),
    ]);
    const standby = await startRedis({ name: 'standby' });
    await master.client().set('k', 'v');
    rbuddy = await startRbuddy({
      master: master.address,
      active: active.address,
      standby: standby.address,
      args: ['--listen', 'none', ...tlsListenerArgs(certs.server, pki.ca.cert)],
    });
    const bound = rbuddy.app.proxy.tlsAddress();
    assert.ok(bound !== undefined);
    tlsListen = bound;
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
    await pki.remove();
  });

  test('TLS only: no plain listener in status', () => {
    const status = rbuddy.status();
    assert.equal(status.listen, null);
    assert.equal(status.tlsListen, `127.0.0.1:${tlsListen.port}`);
  });

  test('plain text on the TLS port: closed without an answer, and logged', async () => {
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const socket = netConnect(tlsListen.port, tlsListen.host, () => socket.write('PING\r\n'));
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
    });
    assert.ok(!answer.includes('PONG'), answer);
    await waitFor(() => logged(/^TLS handshake failed/, 'kind', /^not-tls$/).length > 0, {
      what: 'the plain-text client logged',
      timeoutMs: 10_000,
    });
  });

  test('a client certificate from another CA: -ERR naming the reason, logged', async () => {
    const answer = await tlsExchange(certs.foreign);
    assert.match(answer, /-ERR rbuddy: client certificate refused: .*configured CA/);
    assert.ok(!answer.includes('PONG'));
    assert.ok(logged(/client certificate refused: .*configured CA/).length > 0);
  });

  test('an expired client certificate: -ERR naming the reason, logged', async () => {
    const answer = await tlsExchange(certs.expired);
    assert.match(answer, /-ERR rbuddy: client certificate refused: .*expired/);
    assert.ok(!answer.includes('PONG'));
    // Throttled with the other refusals: seen at warn or, within 10 s of another, at debug.
    assert.ok(logged(/client certificate refused: .*expired/).length > 0);
  });

  test('a valid client certificate is served', async () => {
    assert.match(await tlsExchange(certs.server), /^\+PONG/);
  });

  test("a stranger's certificate claiming the active never syncs: the master sees no replica", async () => {
    const before = await masterStats(master.client());
    await active.client().replicaof(tlsListen.host, tlsListen.port);
    // The active retries every second: wait for two refusals.
    const refusals = () =>
      logged('sync refused: not a configured replica', 'reason', /certificate/);
    await waitFor(() => refusals().length >= 2, {
      what: 'the claim refused twice',
      timeoutMs: 30_000,
    });
    const reason = String(refusals()[0]?.reason);
    assert.match(reason, /client certificate \(CN replica-a, .*IP 10\.0\.0\.5/);
    assert.match(reason, new RegExp(`${active.address} is ip:127\\.0\\.0\\.1`));
    assert.equal((await info(master.client(), 'replication')).connected_slaves, '0');
    assert.deepEqual(await masterStats(master.client()), before);
    assert.equal(rbuddy.status().sessions.length, 0);

    // The same node with its own certificate (SAN 127.0.0.1) is recognised.
    await active
      .client()
      .config(
        'SET',
        'tls-client-cert-file',
        certs.server.cert,
        'tls-client-key-file',
        certs.server.key,
      );
    await waitForInSync(master.client(), active.client());
  });
});
