// PEM parsing for the TLS files: certificates (a leaf and its chain, or a CA bundle) and one
// private key. Failures name the option and the file, so that the operator sees which of the
// three files is wrong without reading OpenSSL's own messages.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { TlsError } from './tls-errors.js';

export interface PemBlock {
  /** What follows BEGIN, e.g. `CERTIFICATE`, `PRIVATE KEY`, `EC PRIVATE KEY`. */
  readonly label: string;
  /** The whole block, BEGIN and END lines included. */
  readonly text: string;
}

/** Where a text came from, for error messages. */
export interface PemSource {
  option: string;
  file: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/** Every PEM block in `text`, in order. Text around the blocks (comments, `openssl x509 -text`
 * dumps) is ignored, as OpenSSL ignores it. */
export function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(BLOCK)].map((match) => ({ label: match[1] ?? '', text: match[0] }));
}

/** The certificates of a PEM file, in order (leaf first in a chain file). At least one. */
export function parseCertificates(text: string, source: PemSource): X509Certificate[] {
  const blocks = pemBlocks(text).filter((block) => block.label === 'CERTIFICATE');
  if (blocks.length === 0) {
    throw new TlsError('RBUDDY_ERR_TLS_NOT_PEM', 'no PEM certificate (BEGIN CERTIFICATE) found', {
      ...source,
    });
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block.text);
    } catch (error) {
      throw new TlsError(
        'RBUDDY_ERR_TLS_NOT_PEM',
        `certificate ${index + 1} of ${blocks.length} does not parse`,
        { ...source, cause: error },
      );
    }
  });
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);

/** The one private key of a PEM file (PKCS#8, PKCS#1 or SEC1), unencrypted. */
export function parsePrivateKey(text: string, source: PemSource): KeyObject {
  const blocks = pemBlocks(text);
  // PKCS#8 encrypted keys have their own label; traditional (PKCS#1, SEC1) ones carry a
  // `Proc-Type: 4,ENCRYPTED` header inside an ordinary label.
  if (
    blocks.some(
      (block) =>
        block.label === 'ENCRYPTED PRIVATE KEY' ||
        (KEY_LABELS.has(block.label) && /^Proc-Type:\s*4,ENCRYPTED/m.test(block.text)),
    )
  ) {
    throw new TlsError(
      'RBUDDY_ERR_TLS_KEY_ENCRYPTED',
      'the private key is encrypted; rbuddy needs an unencrypted key (openssl pkey -in KEY -out KEY.plain)',
      { ...source },
    );
  }
  const keys = blocks.filter((block) => KEY_LABELS.has(block.label));
  const [key] = keys;
  if (key === undefined) {
    throw new TlsError('RBUDDY_ERR_TLS_NOT_PEM', 'no PEM private key (BEGIN PRIVATE KEY) found', {
      ...source,
    });
  }
  if (keys.length > 1) {
    throw new TlsError(
      'RBUDDY_ERR_TLS_NOT_PEM',
      `${keys.length} private keys found, expected one`,
      {
        ...source,
      },
    );
  }
  try {
    return createPrivateKey(key.text);
  } catch (error) {
    throw new TlsError('RBUDDY_ERR_TLS_NOT_PEM', 'the private key does not parse', {
      ...source,
      cause: error,
    });
  }
}
