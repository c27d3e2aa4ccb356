// A throwaway PKI per test or bench run, made with the openssl command line in a temp dir: a CA,
// a second CA nobody trusts, and certificates with chosen names and validity periods (expired and
// not-yet-valid ones included, which Node's crypto cannot make). `openssl ca` is used for every
// certificate because it is the one 3.0 command that takes explicit start and end dates.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = '/usr/bin/openssl';
const DAY_MS = 24 * 3_600_000;

/** PEM files of one certificate and its key. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface CertificateRequest {
  /** Subject CN; none by default (names then live in the SAN only). */
  cn?: string;
  dns?: readonly string[];
  ips?: readonly string[];
  uris?: readonly string[];
  /** Extended key usage. Default both: redis-server presents its server certificate as a client
   * certificate on its replication link unless tls-client-cert-file says otherwise. */
  usage?: 'server' | 'client' | 'both';
  /** Default: a day ago. */
  notBefore?: Date;
  /** Default: in thirty days. */
  notAfter?: Date;
}

export interface TestCa {
  readonly name: string;
  /** The CA certificate (what `--tls-ca-cert-file` names). */
  readonly cert: string;
  readonly key: string;
  /** Issues a certificate under this CA into `<dir>/<file>.crt` / `.key`. */
  issue(file: string, request: CertificateRequest): Promise<CertFiles>;
}

export interface TestPki {
  readonly dir: string;
  /** The CA everyone trusts. */
  readonly ca: TestCa;
  /** Another CA, trusted by nobody: its certificates are strangers'. */
  readonly otherCa: TestCa;
  /** Makes another CA (e.g. an expired one, or the next one of a CA rotation). */
  createCa(name: string, validity?: { notBefore?: Date; notAfter?: Date }): Promise<TestCa>;
  /** Removes the dir and everything in it. */
  remove(): Promise<void>;
}

/** The usual cast of certificates for TLS tests, all under `pki.ca` unless said otherwise. */
export interface StandardCerts {
  /** CN and SAN localhost / 127.0.0.1 / ::1, server and client usage. */
  server: CertFiles;
  /** The same names, a different key: what a rotation installs. */
  serverNext: CertFiles;
  /** Client certificates: CN replica-a, DNS replica-a.test, URI spiffe://test/replica-a, … */
  replicaA: CertFiles;
  replicaB: CertFiles;
  /** Expired yesterday. */
  expired: CertFiles;
  /** Valid from tomorrow on. */
  notYetValid: CertFiles;
  /** Same names as `server`, issued by `otherCa`. */
  foreign: CertFiles;
  /** `server`'s certificate with `serverNext`'s key. */
  mismatched: CertFiles;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-pki-'));
  try {
    const ca = await makeCa(dir, 'ca', {});
    const otherCa = await makeCa(dir, 'other-ca', {});
    return {
      dir,
      ca,
      otherCa,
      createCa: (name, validity = {}) => makeCa(dir, name, validity),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export async function standardCerts(pki: TestPki): Promise<StandardCerts> {
  const local = { cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1', '::1'] };
  const now = Date.now();
  const [server, serverNext, replicaA, replicaB, expired, notYetValid, foreign] = await Promise.all(
    [
      pki.ca.issue('server', local),
      pki.ca.issue('server-next', local),
      pki.ca.issue('replica-a', {
        cn: 'replica-a',
        dns: ['replica-a.test'],
        ips: ['10.0.0.5'],
        uris: ['spiffe://test/replica-a'],
        usage: 'client',
      }),
      pki.ca.issue('replica-b', {
        cn: 'replica-b',
        dns: ['replica-b.test'],
        ips: ['10.0.0.6'],
        uris: ['spiffe://test/replica-b'],
        usage: 'client',
      }),
      pki.ca.issue('expired', {
        ...local,
        notBefore: new Date(now - 30 * DAY_MS),
        notAfter: new Date(now - DAY_MS),
      }),
      pki.ca.issue('not-yet-valid', {
        ...local,
        notBefore: new Date(now + DAY_MS),
        notAfter: new Date(now + 30 * DAY_MS),
      }),
      pki.otherCa.issue('foreign', local),
    ],
  );
  return {
    server,
    serverNext,
    replicaA,
    replicaB,
    expired,
    notYetValid,
    foreign,
    mismatched: { cert: server.cert, key: serverNext.key },
  };
}

const CA_CONFIG = `[ ca ]
default_ca = CA_default
[ CA_default ]
database = index.txt
new_certs_dir = .
serial = serial
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = optional
`;

const CA_EXTENSIONS = `[ ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

async function makeCa(
  root: string,
  name: string,
  validity: { notBefore?: Date; notAfter?: Date },
): Promise<TestCa> {
  // Each CA has its own `openssl ca` database, so that CAs can issue in parallel.
  const db = join(root, `${name}.db`);
  await mkdir(db);
  await writeFile(join(db, 'index.txt'), '');
  await writeFile(join(db, 'ca.cnf'), CA_CONFIG);
  const key = join(root, `${name}.key`);
  const cert = join(root, `${name}.crt`);
  await newKey(key);
  await sign(db, {
    subject: `/CN=rbuddy test ${name}`,
    key,
    out: cert,
    extensions: CA_EXTENSIONS,
    notBefore: validity.notBefore ?? new Date(Date.now() - DAY_MS),
    notAfter: validity.notAfter ?? new Date(Date.now() + 365 * DAY_MS),
    issuer: 'self',
  });
  let serial = 0;
  // `openssl ca` rewrites its database by rename: two at once on one CA lose entries or fail.
  let queue: Promise<unknown> = Promise.resolve();
  const issue = async (file: string, request: CertificateRequest): Promise<CertFiles> => {
    serial += 1;
    const out = { cert: join(root, `${file}.crt`), key: join(root, `${file}.key`) };
    await newKey(out.key);
    await sign(db, {
      subject: request.cn === undefined ? '/' : `/CN=${request.cn}`,
      key: out.key,
      out: out.cert,
      extensions: leafExtensions(request),
      notBefore: request.notBefore ?? new Date(Date.now() - DAY_MS),
      notAfter: request.notAfter ?? new Date(Date.now() + 30 * DAY_MS),
      issuer: { cert, key },
      tag: `${file}-${serial}`,
    });
    return out;
  };
  return {
    name,
    cert,
    key,
    issue(file, request) {
      const next = queue.then(() => issue(file, request));
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

function leafExtensions(request: CertificateRequest): string {
  const usage = request.usage ?? 'both';
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth, clientAuth' }[usage];
  const san = [
    ...(request.dns ?? []).map((name) => `DNS:${name}`),
    ...(request.ips ?? []).map((ip) => `IP:${ip}`),
    ...(request.uris ?? []).map((uri) => `URI:${uri}`),
  ];
  return [
    '[ ext ]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    `extendedKeyUsage = ${eku}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    ...(san.length > 0 ? [`subjectAltName = ${san.join(', ')}`] : []),
    '',
  ].join('\n');
}

async function newKey(path: string): Promise<void> {
  // P-256: as good as RSA for these tests and far faster to generate.
  await run(OPENSSL, [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    path,
  ]);
}

interface SignRequest {
  subject: string;
  key: string;
  out: string;
  extensions: string;
  notBefore: Date;
  notAfter: Date;
  issuer: 'self' | CertFiles;
  tag?: string;
}

async function sign(db: string, request: SignRequest): Promise<void> {
  const tag = request.tag ?? 'self';
  const csr = join(db, `${tag}.csr`);
  const ext = join(db, `${tag}.ext`);
  await writeFile(ext, request.extensions);
  await run(OPENSSL, ['req', '-new', '-key', request.key, '-subj', request.subject, '-out', csr]);
  const issuer =
    request.issuer === 'self'
      ? ['-selfsign', '-keyfile', request.key]
      : ['-cert', request.issuer.cert, '-keyfile', request.issuer.key];
  await run(
    OPENSSL,
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      'ca.cnf',
      ...issuer,
      '-in',
      csr,
      '-out',
      request.out,
      '-extfile',
      ext,
      '-extensions',
      'ext',
      '-startdate',
      asn1Time(request.notBefore),
      '-enddate',
      asn1Time(request.notAfter),
    ],
    { cwd: db },
  );
}

/** GeneralizedTime, YYYYMMDDHHMMSSZ, which `openssl ca` takes for any year. */
function asn1Time(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
