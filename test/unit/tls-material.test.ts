// Loading TLS material from files: a good set loads with its summary; every bad file is refused
// with a stable code naming its option (missing, unreadable, not PEM, encrypted key, key of
// another certificate, expired, not yet valid, CA bundle of expired CAs); warnings for what
// still works but needs attention.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { TlsError, type TlsErrorCode } from '../../src/tls/tls-errors.js';
import { loadTlsMaterial, TLS_OPTION_NAMES, type TlsFiles } from '../../src/tls/tls-material.js';
import { certificateValidity } from '../../src/tls/certificate-validity.js';
import {
  createTestPki,
  standardCerts,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';

const DAY_MS = 24 * 3_600_000;
let pki: TestPki;
let certs: StandardCerts;

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
});
after(() => pki.remove());

const names = TLS_OPTION_NAMES.listener;
const load = (files: TlsFiles, now?: Date) =>
  loadTlsMaterial(files, {
    names,
    requireCertificate: true,
    ...(now === undefined ? {} : { now: () => now }),
  });

async function refusal(
  promise: Promise<unknown>,
  code: TlsErrorCode,
  option?: string,
): Promise<TlsError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof TlsError, `not a TlsError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (option !== undefined) {
    assert.equal(error.option, option);
    assert.ok(error.message.startsWith(option), error.message);
  }
  return error;
}

void describe('loadTlsMaterial', () => {
  void test('loads a certificate, its key and a CA, and summarizes them', async () => {
    const material = await load({ ...certs.server, ca: pki.ca.cert });
    const leaf = new X509Certificate(await readFile(certs.server.cert));
    assert.equal(material.certificate?.fingerprint256, leaf.fingerprint256);
    assert.match(material.certificate?.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.equal(material.ca.length, 1);
    assert.match(material.ca[0]?.subject ?? '', /rbuddy test ca/);
    assert.deepEqual(material.warnings, []);
    assert.equal(typeof material.contextOptions.key, 'string');
    assert.equal(material.digest.length, 64);
  });

  void test('a client may go without a certificate, and without a CA (system roots)', async () => {
    const material = await loadTlsMaterial(
      {},
      { names: TLS_OPTION_NAMES.master, requireCertificate: false },
    );
    assert.equal(material.certificate, undefined);
    assert.deepEqual(material.ca, []);
  });

  void test('the digest changes with any file and only then', async () => {
    const one = await load({ ...certs.server, ca: pki.ca.cert });
    const same = await load({ ...certs.server, ca: pki.ca.cert });
    const other = await load({ ...certs.serverNext, ca: pki.ca.cert });
    assert.equal(one.digest, same.digest);
    assert.notEqual(one.digest, other.digest);
  });

  void test('a missing file names its option', async () => {
    const missing = join(pki.dir, 'nope.key');
    const error = await refusal(
      load({ cert: certs.server.cert, key: missing }),
      'RBUDDY_ERR_TLS_FILE_MISSING',
      '--tls-key-file',
    );
    assert.equal(error.file, missing);
    await refusal(
      load({ ...certs.server, ca: join(pki.dir, 'no', 'ca.crt') }),
      'RBUDDY_ERR_TLS_FILE_MISSING',
      '--tls-ca-cert-file',
    );
  });

  void test('an unreadable file (a directory) names its option', async () => {
    await refusal(
      load({ cert: pki.dir, key: certs.server.key }),
      'RBUDDY_ERR_TLS_FILE_UNREADABLE',
      '--tls-cert-file',
    );
  });

  void test('a file that is not PEM, or the wrong kind of PEM, is refused', async () => {
    const garbage = join(pki.dir, 'garbage.pem');
    await writeFile(garbage, 'hello\n');
    await refusal(
      load({ cert: garbage, key: certs.server.key }),
      'RBUDDY_ERR_TLS_NOT_PEM',
      '--tls-cert-file',
    );
    // A key where the certificate should be, and the other way round.
    await refusal(
      load({ cert: certs.server.key, key: certs.server.key }),
      'RBUDDY_ERR_TLS_NOT_PEM',
      '--tls-cert-file',
    );
    await refusal(
      load({ cert: certs.server.cert, key: certs.server.cert }),
      'RBUDDY_ERR_TLS_NOT_PEM',
      '--tls-key-file',
    );
    await refusal(
      load({ ...certs.server, ca: garbage }),
      'RBUDDY_ERR_TLS_NOT_PEM',
      '--tls-ca-cert-file',
    );
    const corrupt = join(pki.dir, 'corrupt.crt');
    await writeFile(corrupt, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await refusal(load({ cert: corrupt, key: certs.server.key }), 'RBUDDY_ERR_TLS_NOT_PEM');
  });

  void test('an encrypted key is refused with its own code', async () => {
    const encrypted = join(pki.dir, 'encrypted.key');
    await promisify(execFile)('/usr/bin/openssl', [
      'pkey',
      '-in',
      certs.server.key,
      '-aes256',
      '-passout',
      'pass:secret',
      '-out',
      encrypted,
    ]);
    await refusal(
      load({ cert: certs.server.cert, key: encrypted }),
      'RBUDDY_ERR_TLS_KEY_ENCRYPTED',
      '--tls-key-file',
    );
  });

  void test("a key that is not the certificate's is refused", async () => {
    await refusal(load(certs.mismatched), 'RBUDDY_ERR_TLS_KEY_MISMATCH', '--tls-key-file');
  });

  void test('an expired or not-yet-valid certificate is refused', async () => {
    await refusal(load(certs.expired), 'RBUDDY_ERR_TLS_CERT_EXPIRED', '--tls-cert-file');
    await refusal(load(certs.notYetValid), 'RBUDDY_ERR_TLS_CERT_NOT_YET_VALID', '--tls-cert-file');
  });

  void test('a notBefore within the clock skew allowance counts as valid', async () => {
    const leaf = new X509Certificate(await readFile(certs.server.cert));
    const notBefore = new Date(leaf.validFrom);
    await load(certs.server, new Date(notBefore.getTime() - 60_000));
    await refusal(
      load(certs.server, new Date(notBefore.getTime() - 10 * 60_000)),
      'RBUDDY_ERR_TLS_CERT_NOT_YET_VALID',
    );
    assert.equal(
      certificateValidity(leaf, new Date(notBefore.getTime() - 1), 0).state,
      'not-yet-valid',
    );
    assert.equal(
      certificateValidity(leaf, new Date(new Date(leaf.validTo).getTime() + 1)).state,
      'expired',
    );
  });

  void test('a certificate close to its end loads with a warning', async () => {
    const leaf = new X509Certificate(await readFile(certs.server.cert));
    const material = await load(certs.server, new Date(new Date(leaf.validTo).getTime() - DAY_MS));
    assert.equal(material.warnings.length, 1);
    assert.match(material.warnings[0] ?? '', /--tls-cert-file: the certificate expires/);
  });

  void test('one expired CA in a bundle is a warning; a bundle of expired CAs is refused', async () => {
    const old = await pki.createCa('old-ca', {
      notBefore: new Date(Date.now() - 10 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    });
    const bundle = join(pki.dir, 'bundle.crt');
    await writeFile(
      bundle,
      (await readFile(old.cert, 'utf8')) + (await readFile(pki.ca.cert, 'utf8')),
    );
    const material = await load({ ...certs.server, ca: bundle });
    assert.equal(material.ca.length, 2);
    assert.equal(material.warnings.length, 1);
    assert.match(material.warnings[0] ?? '', /old-ca has expired/);
    await refusal(
      load({ ...certs.server, ca: old.cert }),
      'RBUDDY_ERR_TLS_CA_EXPIRED',
      '--tls-ca-cert-file',
    );
  });

  void test('a CA file that holds no CA certificate loads with a warning', async () => {
    // A leaf where the CA belongs: only a peer presenting exactly it would verify.
    const material = await load({ ...certs.server, ca: certs.replicaA.cert });
    assert.equal(material.warnings.length, 1);
    assert.match(material.warnings[0] ?? '', /--tls-ca-cert-file: holds no CA certificate/);
  });

  void test('a certificate without its key, or a key without its certificate, is refused', async () => {
    const noKey = await refusal(load({ cert: certs.server.cert }), 'RBUDDY_ERR_TLS_INCOMPLETE');
    assert.match(noKey.message, /--tls-cert-file is set but --tls-key-file is not/);
    await refusal(load({ key: certs.server.key }), 'RBUDDY_ERR_TLS_INCOMPLETE');
    const none = await refusal(load({ ca: pki.ca.cert }), 'RBUDDY_ERR_TLS_INCOMPLETE');
    assert.match(none.message, /required to serve TLS/);
  });

  void test('messages name the options of the hop', async () => {
    const error = await refusal(
      loadTlsMaterial(
        { cert: certs.server.cert, key: join(pki.dir, 'x') },
        { names: TLS_OPTION_NAMES.master, requireCertificate: false },
      ),
      'RBUDDY_ERR_TLS_FILE_MISSING',
      '--master-tls-key-file',
    );
    assert.doesNotMatch(error.message, /BEGIN/);
  });
});
