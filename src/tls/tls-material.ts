// Loading one hop's TLS material (certificate chain, private key, CA bundle) from files into
// what Node needs: the options for tls.Server#setSecureContext and a ready tls.SecureContext for
// outgoing connections. Everything is checked here, at load time, so that a bad file is refused
// with one line naming its option instead of failing every later handshake with OpenSSL's words.

import { createHash, type X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { certificateValidity } from './certificate-validity.js';
import { parseCertificates, parsePrivateKey, type PemSource } from './pem.js';
import { TlsError } from './tls-errors.js';

/** The files of one hop; each may be absent (a client without a certificate, default CAs). */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

/** The option names of one hop's files, used in every message. */
export interface TlsOptionNames {
  cert: string;
  key: string;
  ca: string;
}

/** The option names of each hop, as the configuration spells them. */
export const TLS_OPTION_NAMES = {
  listener: { cert: '--tls-cert-file', key: '--tls-key-file', ca: '--tls-ca-cert-file' },
  master: {
    cert: '--master-tls-cert-file',
    key: '--master-tls-key-file',
    ca: '--master-tls-ca-cert-file',
  },
  replica: {
    cert: '--replica-tls-cert-file',
    key: '--replica-tls-key-file',
    ca: '--replica-tls-ca-cert-file',
  },
  // The admin API verifies no client certificates: no CA option.
  http: { cert: '--http-tls-cert-file', key: '--http-tls-key-file', ca: '(none)' },
} as const satisfies Record<string, TlsOptionNames>;

export interface LoadTlsOptions {
  names: TlsOptionNames;
  /** A server must present a certificate; a client may go without one. */
  requireCertificate: boolean;
  /** Default: the system clock. */
  now?: () => Date;
  /** How far in the future a notBefore may be and still count as valid. Default 5 minutes. */
  clockSkewMs?: number;
  /** A certificate that expires sooner than this is loaded with a warning. Default 14 days. */
  expiryWarningMs?: number;
}

/** What status and logs show about a certificate (never the key). */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  subjectAltName: string | undefined;
  serialNumber: string;
  /** SHA-256 fingerprint, `AB:CD:…`, as X509Certificate#fingerprint256 and
   * tls.PeerCertificate#fingerprint256 spell it. */
  fingerprint256: string;
  notBefore: string;
  notAfter: string;
}

export interface TlsMaterial {
  readonly files: Readonly<TlsFiles>;
  /** For tls.createServer / tls.Server#setSecureContext. */
  readonly contextOptions: Readonly<SecureContextOptions>;
  /** For tls.connect({ secureContext }). */
  readonly secureContext: SecureContext;
  /** The leaf certificate presented to peers, if any. */
  readonly certificate: CertificateSummary | undefined;
  /** The CA certificates peers are verified against (empty: the system's roots). */
  readonly ca: readonly CertificateSummary[];
  /** Loaded, but worth an operator's attention (expiring soon, an expired CA in a bundle). */
  readonly warnings: readonly string[];
  /** SHA-256 over the files' bytes: equal digests mean nothing changed on disk. */
  readonly digest: string;
  readonly loadedAt: Date;
}

const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;
const DEFAULT_EXPIRY_WARNING_MS = 14 * 24 * 3_600_000;

/** Reads and checks the files; throws a {@link TlsError} naming the option of the bad file. */
export async function loadTlsMaterial(
  files: TlsFiles,
  options: LoadTlsOptions,
): Promise<TlsMaterial> {
  const { names } = options;
  const now = (options.now ?? (() => new Date()))();
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  const warnAfter = now.getTime() + (options.expiryWarningMs ?? DEFAULT_EXPIRY_WARNING_MS);

  if (files.cert === undefined && files.key !== undefined) {
    throw new TlsError('RBUDDY_ERR_TLS_INCOMPLETE', `${names.key} is set but ${names.cert} is not`);
  }
  if (files.cert !== undefined && files.key === undefined) {
    throw new TlsError('RBUDDY_ERR_TLS_INCOMPLETE', `${names.cert} is set but ${names.key} is not`);
  }
  if (files.cert === undefined && options.requireCertificate) {
    throw new TlsError(
      'RBUDDY_ERR_TLS_INCOMPLETE',
      `${names.cert} and ${names.key} are required to serve TLS`,
    );
  }

  // Read all three before parsing any: a digest over one consistent set of bytes.
  const certText = files.cert === undefined ? undefined : await readTlsFile(files.cert, names.cert);
  const keyText = files.key === undefined ? undefined : await readTlsFile(files.key, names.key);
  const caText = files.ca === undefined ? undefined : await readTlsFile(files.ca, names.ca);

  const warnings: string[] = [];
  const contextOptions: SecureContextOptions = {};
  let certificate: CertificateSummary | undefined;

  if (certText !== undefined && keyText !== undefined && files.cert !== undefined) {
    const certSource: PemSource = { option: names.cert, file: files.cert };
    const keySource: PemSource = { option: names.key, file: files.key ?? '' };
    const [leaf, ...chain] = parseCertificates(certText, certSource);
    if (leaf === undefined) throw new Error('parseCertificates returned no certificate');
    const key = parsePrivateKey(keyText, keySource);
    if (!leaf.checkPrivateKey(key)) {
      throw new TlsError(
        'RBUDDY_ERR_TLS_KEY_MISMATCH',
        `the key is not the key of the certificate in ${names.cert} (${files.cert}, subject ${oneLine(leaf.subject)})`,
        keySource,
      );
    }
    const validity = certificateValidity(leaf, now, skew);
    if (validity.state === 'expired') {
      throw new TlsError(
        'RBUDDY_ERR_TLS_CERT_EXPIRED',
        `the certificate expired at ${validity.notAfter.toISOString()} (subject ${oneLine(leaf.subject)})`,
        certSource,
      );
    }
    if (validity.state === 'not-yet-valid') {
      throw new TlsError(
        'RBUDDY_ERR_TLS_CERT_NOT_YET_VALID',
        `the certificate is not valid before ${validity.notBefore.toISOString()} (subject ${oneLine(leaf.subject)}); is this host's clock right?`,
        certSource,
      );
    }
    if (validity.notAfter.getTime() < warnAfter) {
      warnings.push(`${names.cert}: the certificate expires at ${validity.notAfter.toISOString()}`);
    }
    // An expired intermediate may still leave the peer another path to a root: warn only.
    for (const link of chain) {
      if (certificateValidity(link, now, skew).state !== 'valid') {
        warnings.push(
          `${names.cert}: chain certificate ${oneLine(link.subject)} is outside its validity period`,
        );
      }
    }
    certificate = summarize(leaf);
    contextOptions.cert = certText;
    contextOptions.key = keyText;
  }

  let ca: CertificateSummary[] = [];
  if (caText !== undefined && files.ca !== undefined) {
    const caSource: PemSource = { option: names.ca, file: files.ca };
    const authorities = parseCertificates(caText, caSource);
    // A bundle holding the old and the new CA during a CA rotation is normal: one expired CA is a
    // warning; a bundle where every CA expired would refuse every peer, so it is an error.
    const unusable = authorities.filter(
      (authority) => certificateValidity(authority, now, skew).state === 'expired',
    );
    if (unusable.length === authorities.length) {
      throw new TlsError(
        'RBUDDY_ERR_TLS_CA_EXPIRED',
        `every CA certificate has expired (${authorities.map((a) => oneLine(a.subject)).join('; ')})`,
        caSource,
      );
    }
    for (const authority of unusable) {
      warnings.push(`${names.ca}: CA certificate ${oneLine(authority.subject)} has expired`);
    }
    // A leaf certificate where the CA belongs (a file mix-up) verifies only a peer presenting
    // exactly that certificate: every other peer would be refused, so say so.
    if (!authorities.some((authority) => authority.ca)) {
      warnings.push(
        `${names.ca}: holds no CA certificate (basicConstraints CA:TRUE); only a peer presenting exactly this certificate will verify`,
      );
    }
    ca = authorities.map(summarize);
    contextOptions.ca = caText;
  }

  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext(contextOptions);
  } catch (error) {
    throw new TlsError(
      'RBUDDY_ERR_TLS_CONTEXT',
      `OpenSSL refused the TLS material of ${[names.cert, names.key, names.ca].join(' / ')}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  const digest = createHash('sha256');
  for (const text of [certText, keyText, caText])
    digest.update(`${text?.length ?? -1}:${text ?? ''}`);

  return {
    files: { ...files },
    contextOptions,
    secureContext,
    certificate,
    ca,
    warnings,
    digest: digest.digest('hex'),
    loadedAt: now,
  };
}

async function readTlsFile(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TlsError('RBUDDY_ERR_TLS_FILE_MISSING', 'no such file', {
        option,
        file,
        cause: error,
      });
    }
    throw new TlsError(
      'RBUDDY_ERR_TLS_FILE_UNREADABLE',
      `cannot read the file (${code ?? (error as Error).message})`,
      { option, file, cause: error },
    );
  }
}

function summarize(cert: X509Certificate): CertificateSummary {
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    subjectAltName: cert.subjectAltName,
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

/** X509Certificate#subject is one `key=value` per line. */
function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
