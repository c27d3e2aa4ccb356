// Reloading TLS material: on demand (SIGHUP) and on file changes — a rewrite in place, a temp
// file renamed over the old one, and the `..data` symlink swap of Kubernetes secret volumes
// (cert-manager). A broken replacement keeps the old material and is reported until a good one
// (or the old files) come back; the watch stops on close().
import assert from 'node:assert/strict';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, afterEach, before, describe, test } from 'node:test';
import { ReloadableTls } from '../../src/tls/reloadable-tls.js';
import { TLS_OPTION_NAMES, type TlsFiles } from '../../src/tls/tls-material.js';
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
const dirs: string[] = [];
const holders: ReloadableTls[] = [];

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
});
afterEach(() => {
  for (const holder of holders.splice(0)) holder.close();
});
after(async () => {
  await pki.remove();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-tls-reload-'));
  dirs.push(dir);
  return dir;
}

async function holderFor(files: TlsFiles): Promise<ReloadableTls> {
  const holder = await ReloadableTls.load(files, {
    hop: 'listener',
    names: TLS_OPTION_NAMES.listener,
    requireCertificate: true,
  });
  holders.push(holder);
  return holder;
}

/** Plain files in a dir: cert, key, CA. */
async function plainFiles(from: CertFiles): Promise<TlsFiles & CertFiles> {
  const dir = await tempDir();
  const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
  await copyFile(from.cert, files.cert);
  await copyFile(from.key, files.key);
  await copyFile(pki.ca.cert, files.ca);
  return files;
}

/** A Kubernetes secret volume as kubelet's AtomicWriter lays it out. */
async function secretVolume(
  from: CertFiles,
): Promise<{ files: TlsFiles & CertFiles; swap: (to: CertFiles) => Promise<void> }> {
  const dir = await tempDir();
  let generation = 0;
  const writeGeneration = async (source: CertFiles): Promise<string> => {
    generation += 1;
    const name = `..2026_01_01_00_00_0${generation}.000000000`;
    await mkdir(join(dir, name));
    await copyFile(source.cert, join(dir, name, 'tls.crt'));
    await copyFile(source.key, join(dir, name, 'tls.key'));
    await copyFile(pki.ca.cert, join(dir, name, 'ca.crt'));
    return name;
  };
  const first = await writeGeneration(from);
  await symlink(first, join(dir, '..data'));
  for (const file of ['tls.crt', 'tls.key', 'ca.crt'])
    await symlink(join('..data', file), join(dir, file));
  let current = first;
  return {
    files: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') },
    swap: async (to) => {
      const next = await writeGeneration(to);
      await symlink(next, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await rm(join(dir, current), { recursive: true });
      current = next;
    },
  };
}

const fingerprintOf = async (files: CertFiles): Promise<string | undefined> =>
  (await holderFor({ ...files, ca: pki.ca.cert })).current.certificate?.fingerprint256;

void describe('ReloadableTls.reload', () => {
  void test('replaces the material when the files changed, and tells its listeners', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    const before = holder.current;
    const seen: string[] = [];
    holder.onReload((material, previous) => {
      seen.push(
        `${previous.certificate?.fingerprint256} -> ${material.certificate?.fingerprint256}`,
      );
    });
    assert.equal((await holder.reload('sighup')).outcome, 'unchanged');
    await copyFile(certs.serverNext.cert, files.cert);
    await copyFile(certs.serverNext.key, files.key);
    const outcome = await holder.reload('sighup');
    assert.equal(outcome.outcome, 'reloaded');
    assert.equal(holder.current.certificate?.fingerprint256, await fingerprintOf(certs.serverNext));
    assert.deepEqual(seen, [
      `${before.certificate?.fingerprint256} -> ${holder.current.certificate?.fingerprint256}`,
    ]);
  });

  void test('a broken replacement keeps the old material and is reported until fixed', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    const good = holder.current;
    let reloads = 0;
    holder.onReload(() => (reloads += 1));

    // Half a rotation: the new certificate, the old key.
    await copyFile(certs.serverNext.cert, files.cert);
    const failed = await holder.reload('sighup');
    assert.equal(failed.outcome, 'failed');
    assert.equal(holder.current, good);
    assert.equal(holder.lastError?.code, 'RBUDDY_ERR_TLS_KEY_MISMATCH');
    const status = holder.status();
    assert.equal(status.lastError?.code, 'RBUDDY_ERR_TLS_KEY_MISMATCH');
    assert.equal(status.lastError?.trigger, 'sighup');
    assert.match(status.lastError?.message ?? '', /^--tls-key-file: /);
    assert.equal(status.certificate?.fingerprint256, good.certificate?.fingerprint256);

    await writeFile(files.key, '');
    assert.equal((await holder.reload('manual')).outcome, 'failed');
    assert.equal(holder.lastError?.code, 'RBUDDY_ERR_TLS_NOT_PEM');

    await copyFile(certs.serverNext.key, files.key);
    assert.equal((await holder.reload('manual')).outcome, 'reloaded');
    assert.equal(holder.lastError, undefined);
    assert.equal(reloads, 1);
  });

  void test('old files restored after a broken edit clear the error without a reload', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    await copyFile(certs.expired.cert, files.cert);
    await copyFile(certs.expired.key, files.key);
    assert.equal((await holder.reload('sighup')).outcome, 'failed');
    assert.equal(holder.lastError?.code, 'RBUDDY_ERR_TLS_CERT_EXPIRED');
    await copyFile(certs.server.cert, files.cert);
    await copyFile(certs.server.key, files.key);
    assert.equal((await holder.reload('sighup')).outcome, 'unchanged');
    assert.equal(holder.lastError, undefined);
  });

  void test('reloads run one at a time, in order', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    await copyFile(certs.serverNext.cert, files.cert);
    await copyFile(certs.serverNext.key, files.key);
    const outcomes = await Promise.all([
      holder.reload('sighup'),
      holder.reload('sighup'),
      holder.reload('sighup'),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.outcome),
      ['reloaded', 'unchanged', 'unchanged'],
    );
  });
});

void describe('ReloadableTls.watchFiles', () => {
  const expectFingerprint = async (
    holder: ReloadableTls,
    files: CertFiles,
    what: string,
  ): Promise<void> => {
    const expected = await fingerprintOf(files);
    await waitFor(() => holder.current.certificate?.fingerprint256 === expected, {
      what,
      timeoutMs: 10_000,
    });
  };

  void test('reloads after a rewrite in place', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    holder.watchFiles({ debounceMs: 50 });
    await writeFile(files.cert, await readText(certs.serverNext.cert));
    await writeFile(files.key, await readText(certs.serverNext.key));
    await expectFingerprint(holder, certs.serverNext, 'the rewritten certificate to be loaded');
  });

  void test('reloads after a temp file is renamed over each file', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    holder.watchFiles({ debounceMs: 50 });
    await copyFile(certs.serverNext.key, `${files.key}.tmp`);
    await copyFile(certs.serverNext.cert, `${files.cert}.tmp`);
    await rename(`${files.key}.tmp`, files.key);
    await rename(`${files.cert}.tmp`, files.cert);
    await expectFingerprint(holder, certs.serverNext, 'the renamed certificate to be loaded');
  });

  void test('reloads after a Kubernetes ..data symlink swap, again and again', async () => {
    const volume = await secretVolume(certs.server);
    const holder = await holderFor(volume.files);
    holder.watchFiles({ debounceMs: 50 });
    await volume.swap(certs.serverNext);
    await expectFingerprint(holder, certs.serverNext, 'the swapped-in certificate to be loaded');
    // The first generation's directory is gone: the watch must have moved on to the new one.
    await volume.swap(certs.server);
    await expectFingerprint(holder, certs.server, 'the second swap to be loaded');
  });

  void test('a broken file written in place is reported; fixing it reloads', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    holder.watchFiles({ debounceMs: 50 });
    await writeFile(files.cert, 'not a certificate');
    await waitFor(() => holder.lastError?.code === 'RBUDDY_ERR_TLS_NOT_PEM', {
      what: 'the broken file to be reported',
      timeoutMs: 10_000,
    });
    assert.equal(holder.lastError?.trigger, 'file-change');
    await copyFile(certs.serverNext.key, files.key);
    await copyFile(certs.serverNext.cert, files.cert);
    await expectFingerprint(holder, certs.serverNext, 'the fixed certificate to be loaded');
    assert.equal(holder.lastError, undefined);
  });

  void test('no reload after close()', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    holder.watchFiles({ debounceMs: 20 });
    holder.close();
    const before = holder.current;
    await copyFile(certs.serverNext.cert, files.cert);
    await copyFile(certs.serverNext.key, files.key);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(holder.current, before);
  });

  void test('the poll catches a change the watch cannot see', async () => {
    const files = await plainFiles(certs.server);
    const holder = await holderFor(files);
    // A debounce longer than the test stands in for a file system without notification.
    holder.watchFiles({ debounceMs: 60_000, pollMs: 50 });
    await copyFile(certs.serverNext.cert, files.cert);
    await copyFile(certs.serverNext.key, files.key);
    await expectFingerprint(holder, certs.serverNext, 'the poll to load the new certificate');
  });
});

const readText = (path: string): Promise<string> => readFile(path, 'utf8');
