// Rotating the TLS listener's certificate under a live replication session, in the real CLI:
// new files and SIGHUP leave the session alone (no new PSYNC on the master) while a new
// connection sees the new certificate; a broken replacement (a key that does not match) keeps
// the old material and is reported in /v1/status and the log. And a missing --tls-key-file at
// start is one line naming the option, exit 2.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  cliArgs,
  cliStatus,
  spawnRbuddy,
  type RbuddyProcess,
} from '../../harness/rbuddy-process.js';
import { runNode, terminate } from '../../harness/processes.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { masterStats, startWriter, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  createTestPki,
  standardCerts,
  type CertFiles,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import type { AppStatus } from '../../src/app.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the TLS listener: certificate rotation under a live session', () => {
  let pki: TestPki;
  let certs: StandardCerts;
  let dir: string;
  let master: RedisServer;
  let active: RedisServer;
  let rbuddy: RbuddyProcess;
  let tlsPort: number;
  const live = { cert: '', key: '' };

  /** The fingerprint of the certificate a new TLS connection to the listener is shown. */
  function servedFingerprint(): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: tlsPort,
        // Only the served certificate is looked at; the listener asks for a client certificate
        // and refuses the connection after the handshake, which is fine here.
        rejectUnauthorized: false,
      });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      });
      socket.once('error', reject);
    });
  }

  const install = (files: CertFiles): void => {
    copyFileSync(files.cert, live.cert);
    copyFileSync(files.key, live.key);
  };

  before(async () => {
    pki = await createTestPki();
    certs = await standardCerts(pki);
    dir = mkdtempSync(join(tmpdir(), 'rbuddy-rotation-'));
    live.cert = join(dir, 'listener.crt');
    live.key = join(dir, 'listener.key');
    install(certs.server);
    [master, active] = await Promise.all([
      startRedis({ name: 'master' }),
      startRedis({
        name: 'active',
        args: {
          'tls-cert-file': certs.server.cert,
          'tls-key-file': certs.server.key,
          'tls-ca-cert-file': pki.ca.cert,
          'tls-replication': 'yes',
        },
      }),
    ]);
    const standby = await startRedis({ name: 'standby' });
    await master.client().set('k', 'v');
    rbuddy = await spawnRbuddy(
      cliArgs(
        { master, active, standby },
        {
          listen: '127.0.0.1:0',
          stateDir: join(dir, 'state'),
          extra: [
            '--tls-listen',
            '127.0.0.1:0',
            '--tls-cert-file',
            live.cert,
            '--tls-key-file',
            live.key,
            '--tls-ca-cert-file',
            pki.ca.cert,
          ],
        },
      ),
    );
    const status = await cliStatus(rbuddy);
    tlsPort = Number(status.tlsListen?.split(':').at(-1));
  });

  after(async () => {
    if (rbuddy !== undefined) await terminate(rbuddy.child);
    await stopAllRedis();
    await pki.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = (): Promise<AppStatus> => cliStatus(rbuddy);

  test('a new certificate and SIGHUP: the live session continues, new connections see it', async () => {
    await active.client().replicaof('127.0.0.1', tlsPort);
    await waitForInSync(master.client(), active.client());
    const session = await waitFor(
      async () => (await status()).sessions.find((s) => s.phase === 'streaming'),
      { what: 'a streaming session', timeoutMs: 60_000 },
    );
    const oldFingerprint = await servedFingerprint();
    const before = await masterStats(master.client());
    const writer = startWriter(master.client(), { keyPrefix: 'rotation' });

    install(certs.serverNext);
    rbuddy.child.kill('SIGHUP');
    const newFingerprint = await waitFor(
      async () => {
        const served = await servedFingerprint();
        return served !== oldFingerprint ? served : undefined;
      },
      { what: 'the new certificate served', timeoutMs: 30_000 },
    );
    assert.equal(
      newFingerprint,
      (await status()).tls.listener?.certificate?.fingerprint256,
      'the served certificate is the one in status',
    );

    await writer.stop();
    assert.equal(writer.errors, 0);
    await waitForInSync(master.client(), active.client());
    assert.deepEqual(await masterStats(master.client()), before, 'no new PSYNC on the master');
    const sessions = (await status()).sessions;
    assert.deepEqual(
      sessions.map((s) => s.id),
      [session.id],
      'the same session',
    );
  });

  test('a broken replacement keeps the old material and is reported', async () => {
    const served = await servedFingerprint();
    install(certs.mismatched);
    rbuddy.child.kill('SIGHUP');
    const lastError = await waitFor(async () => (await status()).tls.listener?.lastError, {
      what: 'the failed reload in /v1/status',
      timeoutMs: 30_000,
    });
    assert.match(lastError.message, /key/i);
    assert.equal(await servedFingerprint(), served, 'the old certificate is still served');
    await waitFor(
      () => rbuddy.logs().some((line) => String(line.msg).startsWith('TLS reload failed')),
      { what: 'the failed reload logged', timeoutMs: 10_000 },
    );
    assert.equal((await status()).sessions.length, 1);
  });
});

describe('the TLS listener: configuration errors at start', () => {
  let pki: TestPki;
  let certs: StandardCerts;
  before(async () => {
    pki = await createTestPki();
    certs = await standardCerts(pki);
  });
  after(() => pki.remove());

  /** Exit 2 and one line on stderr, `rbuddy: …`, naming the key file option. */
  async function assertKeyFileError(keyFile: readonly string[]): Promise<void> {
    const result = await runNode(
      [
        '--import',
        'tsx',
        'src/cli.ts',
        '--master',
        '127.0.0.1:6379',
        '--active',
        '127.0.0.1:6380',
        '--standby',
        '127.0.0.1:6381',
        '--state-dir',
        join(pki.dir, 'state'),
        '--tls-listen',
        '127.0.0.1:0',
        '--tls-cert-file',
        certs.server.cert,
        ...keyFile,
        '--tls-ca-cert-file',
        pki.ca.cert,
      ],
      { cwd: ROOT, env: {}, timeoutMs: 30_000 },
    );
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.split('\n');
    assert.equal(lines.length, 2, JSON.stringify(result.stderr));
    assert.match(lines[0] ?? '', /^rbuddy: .*--tls-key-file/);
  }

  test('no --tls-key-file: exit 2, one line naming the option', async () => {
    await assertKeyFileError([]);
  });

  test('a --tls-key-file that does not exist: exit 2, one line naming the option', async () => {
    await assertKeyFileError(['--tls-key-file', join(pki.dir, 'no-such.key')]);
  });
});
