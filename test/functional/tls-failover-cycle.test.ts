// A whole failover cycle with every hop on TLS: a TLS-only master that requires rbuddy's client
// certificate, two TLS-only replicas that sync through rbuddy's TLS listener (--listen none) with
// certificates of their own (their identities: cn:replica-a, cn:replica-b), rbuddy's control
// connections to them over TLS, and the admin API over HTTPS. The master is killed (kill -9) and
// comes back from its RDB; the active is promoted and keeps serving, the standby full-syncs
// through the proxy, the roles switch, the old active is flushed. A reader that asks GET /active
// over HTTPS before every read, and reads over TLS, sees zero failed reads over the whole cycle.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { freePort, terminate } from '../../harness/processes.js';
import { spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { digest, populate, waitForInSync } from '../../harness/replication.js';
import { keyCount } from '../../harness/held-standby.js';
import { waitFor } from '../../harness/wait-for.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { startTlsRedis, stopAllTlsRedis } from '../helpers/redis-tls.js';
import { createTestPki, standardCerts, type TestPki } from '../helpers/tls-certs.js';
import { failoverTimings } from '../helpers/topology.js';

let pki: TestPki | undefined;
let rbuddy: RbuddyProcess | undefined;
const dirs: string[] = [];

after(async () => {
  await stopAllReaders();
  if (rbuddy !== undefined) await terminate(rbuddy.child);
  await stopAllTlsRedis();
  await pki?.remove();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** One GET over HTTPS on a new connection, the server verified against the test CA. */
function httpsGet(url: string, ca: Buffer, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        if (response.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url} answered ${response.statusCode ?? '?'}: ${body}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

test('every hop on TLS: master killed, promote, resync, switch — zero failed reads', async () => {
  const testPki = await createTestPki();
  pki = testPki;
  const certs = await standardCerts(testPki);
  const caFile = testPki.ca.cert;
  const ca = readFileSync(caFile);
  const listenPort = await freePort();

  const master = await startTlsRedis({
    name: 'tls-cycle-master',
    server: certs.server,
    ca: caFile,
    args: { 'repl-diskless-sync': 'no', dbfilename: 'dump.rdb' },
  });
  const replica = (name: string, client: { cert: string; key: string }) =>
    startTlsRedis({
      name,
      server: certs.server,
      ca: caFile,
      // What a replica presents on its replication link (to rbuddy's TLS listener): its own
      // certificate, the one its identity pattern names.
      args: {
        'tls-replication': 'yes',
        'tls-client-cert-file': client.cert,
        'tls-client-key-file': client.key,
      },
    });
  const [active, standby] = await Promise.all([
    replica('tls-cycle-active', certs.replicaA),
    replica('tls-cycle-standby', certs.replicaB),
  ]);
  await populate(master.client(), { megabytes: 5 });
  await master.client().set('reader-key', 'reader-value');

  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-tls-cycle-'));
  dirs.push(stateDir);
  const addr = (port: number) => `127.0.0.1:${port}`;
  rbuddy = await spawnRbuddy([
    ...['--master', addr(master.tlsPort), '--master-tls', 'yes'],
    ...['--master-tls-ca-cert-file', caFile],
    ...['--master-tls-cert-file', certs.server.cert, '--master-tls-key-file', certs.server.key],
    ...['--active', addr(active.tlsPort), '--standby', addr(standby.tlsPort)],
    ...['--replica-tls', 'yes', '--replica-tls-ca-cert-file', caFile],
    ...['--replica-tls-cert-file', certs.server.cert, '--replica-tls-key-file', certs.server.key],
    ...['--listen', 'none', '--tls-listen', addr(listenPort)],
    ...['--tls-cert-file', certs.server.cert, '--tls-key-file', certs.server.key],
    ...['--tls-ca-cert-file', caFile],
    ...['--active-tls-identity', 'cn:replica-a', '--standby-tls-identity', 'cn:replica-b'],
    ...['--http', '127.0.0.1:0'],
    ...['--http-tls-cert-file', certs.server.cert, '--http-tls-key-file', certs.server.key],
    ...['--state-dir', stateDir],
    ...failoverTimings(),
  ]);
  const base = rbuddy.httpUrl.replace(/^http:/, 'https:');
  const status = async (): Promise<AppStatus> =>
    JSON.parse(await httpsGet(`${base}/v1/status`, ca, 5_000)) as AppStatus;
  const explain = async () => {
    const s = await status().catch((error: unknown) => String(error));
    return `status: ${JSON.stringify(s)}\nmaster:\n${master.logTail(10)}\nactive:\n${active.logTail(10)}\nstandby:\n${standby.logTail(10)}`;
  };
  await waitFor(async () => (await status()).state === 'healthy', {
    what: 'rbuddy healthy with every hop on TLS',
    timeoutMs: 90_000,
    explain,
  });
  const before = await status();
  assert.equal(before.active, addr(active.tlsPort));
  assert.equal(before.listen, null, 'no plain RESP listener');
  assert.equal(await active.client().get('reader-key'), 'reader-value');

  const reader = startReader({
    httpUrl: base,
    key: 'reader-key',
    expected: 'reader-value',
    active: async () => (await httpsGet(`${base}/active`, ca, 1_000)).trim(),
    // The replicas require a client certificate from the CA, as every hop here does.
    redis: { tls: active.tlsOptions(certs.server) },
  });
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });

  await master.client().save();
  await master.kill9();
  await waitFor(async () => (await status()).failover?.step === 'syncing', {
    what: 'the active to be promoted and the standby attached',
    timeoutMs: 60_000,
    explain,
  });
  await waitFor(() => reader.ok >= 60, { what: 'reads while the master is away' });

  await master.restart();
  await waitFor(
    async () => {
      const s = await status();
      return s.state === 'healthy' && s.epoch === (before.epoch ?? -1) + 1;
    },
    { what: 'the switch to complete', timeoutMs: 120_000, explain },
  );
  await waitFor(() => reader.ok >= 120, { what: 'reads after the switch' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, `failed reads: ${result.errors.join('; ')}`);
  assert.deepEqual(result.actives, [
    `redis://${addr(active.tlsPort)}/`,
    `redis://${addr(standby.tlsPort)}/`,
  ]);

  const after = await status();
  assert.equal(after.active, addr(standby.tlsPort));
  assert.equal(after.standby, addr(active.tlsPort));
  await waitForInSync(master.client(), standby.client());
  assert.equal(await digest(standby.client()), await digest(master.client()));
  assert.equal(await keyCount(active.client()), 0, 'the old active was flushed');
  // Every session went through the TLS listener: the master saw the replicas' syncs only there.
  assert.ok(after.sessions.length > 0);
});
