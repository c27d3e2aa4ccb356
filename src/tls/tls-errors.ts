// Errors about TLS material (certificates, keys, CAs), each with a stable `code` like the ones in
// src/errors.ts, and the option that named the file, so that a start-up failure is one line the
// operator can act on ("--tls-key-file: /etc/rbuddy/tls.key: no such file").

export type TlsErrorCode =
  /** The file named by the option does not exist (or a directory on its path does not). */
  | 'RBUDDY_ERR_TLS_FILE_MISSING'
  /** The file exists but cannot be read (permissions, a directory, an I/O error). */
  | 'RBUDDY_ERR_TLS_FILE_UNREADABLE'
  /** No PEM block of the expected kind, or a block that does not parse. */
  | 'RBUDDY_ERR_TLS_NOT_PEM'
  /** The private key is encrypted; rbuddy takes no passphrase (use an unencrypted key). */
  | 'RBUDDY_ERR_TLS_KEY_ENCRYPTED'
  /** The private key is not the key of the certificate. */
  | 'RBUDDY_ERR_TLS_KEY_MISMATCH'
  /** The certificate's notAfter is in the past. */
  | 'RBUDDY_ERR_TLS_CERT_EXPIRED'
  /** The certificate's notBefore is in the future (beyond the allowed clock skew). */
  | 'RBUDDY_ERR_TLS_CERT_NOT_YET_VALID'
  /** Every certificate of a CA bundle has expired: nothing could ever be verified against it. */
  | 'RBUDDY_ERR_TLS_CA_EXPIRED'
  /** A certificate without its key or a key without its certificate. */
  | 'RBUDDY_ERR_TLS_INCOMPLETE'
  /** OpenSSL refused the material when building the secure context. */
  | 'RBUDDY_ERR_TLS_CONTEXT';

export interface TlsErrorOptions {
  /** The option that named the file, e.g. `--tls-key-file`. */
  option?: string;
  /** The file concerned. */
  file?: string;
  cause?: unknown;
}

export class TlsError extends Error {
  readonly code: TlsErrorCode;
  readonly option: string | undefined;
  readonly file: string | undefined;

  /** The message is prefixed with the option and the file, when known. */
  constructor(code: TlsErrorCode, message: string, options: TlsErrorOptions = {}) {
    const where = [options.option, options.file].filter((part) => part !== undefined).join(': ');
    super(
      where === '' ? message : `${where}: ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.option = options.option;
    this.file = options.file;
  }
}

export function isTlsError(error: unknown): error is TlsError {
  return error instanceof TlsError;
}
