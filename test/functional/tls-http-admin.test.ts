// The admin API over HTTPS (--http-tls-cert-file/--http-tls-key-file), on the CLI process: the
// routes and the Host allow-list work as over HTTP; a rotated certificate (files rewritten,
// SIGHUP) is what new connections get; a broken replacement keeps the old one and shows in
// /v1/status as tls.http.lastError.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { cliArgs, spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { terminate } from '../../harness/processes.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  createTestPki,
  standardCerts,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';

let pki: TestPki;
let certs: StandardCerts;
let dir: string;
let rbuddy: RbuddyProcess;
let base: URL;

const certFile = () => join(dir, 'http.crt');
const keyFile = () => join(dir, 'http.key');
const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

interface Answer {
  status: number;
  body: string;
  /** fingerprint256 of the certificate the server presented on this (new) connection. */
  fingerprint: string;
}

/** One GET on a new connection, verifying the server against the test CA. */
function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, base),
      {
        ca: readFileSync(pki.ca.cert),
        // Verified as `localhost` whatever Host header a test sends.
        servername: 'localhost',
        agent: false,
        headers,
        timeout: 5_000,
      },
      (response) => {
        const { fingerprint256 } = (response.socket as TLSSocket).getPeerCertificate();
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body, fingerprint: fingerprint256 }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function status(): Promise<AppStatus> {
  const answer = await get('/v1/status');
  assert.equal(answer.status, 200, answer.body);
  return JSON.parse(answer.body) as AppStatus;
}

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
  dir = mkdtempSync(join(tmpdir(), 'rbuddy-https-'));
  copyFileSync(certs.server.cert, certFile());
  copyFileSync(certs.server.key, keyFile());
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  rbuddy = await spawnRbuddy(
    cliArgs(
      { master, active, standby },
      {
        listen: '127.0.0.1:0',
        stateDir: join(dir, 'state'),
        extra: ['--http-tls-cert-file', certFile(), '--http-tls-key-file', keyFile()],
      },
    ),
  );
  base = new URL(rbuddy.httpUrl.replace(/^http:/, 'https:'));
});

after(async () => {
  if (rbuddy !== undefined) await terminate(rbuddy.child);
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
  await pki.remove();
});

test('/healthz and /v1/status answer over HTTPS, verified with the CA', async () => {
  const health = await get('/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.fingerprint, fingerprint(certs.server.cert));
  const current = await status();
  assert.equal(current.tls.http?.lastError, undefined);
  assert.equal(current.tls.http?.files.cert, certFile());
});

test('the Host allow-list holds over HTTPS', async () => {
  const foreign = await get('/v1/status', { host: 'rebind.example' });
  assert.equal(foreign.status, 421);
});

test('plain HTTP to the HTTPS port gets no answer', async () => {
  const plain = await fetch(`${rbuddy.httpUrl}/healthz`, {
    signal: AbortSignal.timeout(5_000),
  }).then(
    (response) => response.status,
    () => 'refused',
  );
  assert.equal(plain, 'refused');
});

test('a rotated certificate is served to new connections after SIGHUP', async () => {
  copyFileSync(certs.serverNext.key, keyFile());
  copyFileSync(certs.serverNext.cert, certFile());
  rbuddy.child.kill('SIGHUP');
  const next = fingerprint(certs.serverNext.cert);
  await waitFor(async () => (await get('/healthz')).fingerprint === next, {
    what: 'the new certificate on a new connection',
  });
  assert.equal((await status()).tls.http?.lastError, undefined);
});

test('a broken replacement keeps the served certificate and is reported', async () => {
  // The first certificate with the current key: they do not match.
  copyFileSync(certs.server.cert, certFile());
  rbuddy.child.kill('SIGHUP');
  const failed = await waitFor(async () => (await status()).tls.http?.lastError, {
    what: 'tls.http.lastError in /v1/status',
  });
  assert.equal(failed.code, 'RBUDDY_ERR_TLS_KEY_MISMATCH');
  const answer = await get('/healthz');
  assert.equal(answer.status, 200);
  assert.equal(answer.fingerprint, fingerprint(certs.serverNext.cert));
});
