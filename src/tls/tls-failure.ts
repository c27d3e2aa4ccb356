// Turning TLS handshake failures into words an operator can act on. OpenSSL's messages name the
// library routine ("ssl3_get_record:wrong version number"); the operator needs "a plain-text
// client on the TLS port" or "the peer's CA is not the configured one".

export type TlsFailureKind =
  | 'not-tls'
  | 'unknown-ca'
  | 'expired'
  | 'not-yet-valid'
  | 'name-mismatch'
  | 'no-client-certificate'
  | 'certificate-refused-by-peer'
  | 'other';

export interface TlsFailure {
  kind: TlsFailureKind;
  /** Node's or OpenSSL's code, when there is one. */
  code: string | undefined;
  /** One line for the log. */
  text: string;
}

const KINDS: Record<string, TlsFailureKind> = {
  // Bytes that are not a TLS record: plain RESP (or HTTP) sent to a TLS port, or a TLS client
  // pointed at a plain port.
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_HTTP_REQUEST: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
  ERR_SSL_RECORD_LENGTH_MISMATCH: 'not-tls',
  // Verification codes (X509_V_ERR_* as Node names them), on the side that verified.
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown-ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown-ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown-ca',
  CERT_SIGNATURE_FAILURE: 'unknown-ca',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name-mismatch',
  // Alerts, on the side whose certificate the other one refused.
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'certificate-refused-by-peer',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'certificate-refused-by-peer',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'certificate-refused-by-peer',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'certificate-refused-by-peer',
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: 'certificate-refused-by-peer',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'no-client-certificate',
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 'no-client-certificate',
};

/**
 * Explains a TLS failure seen by `side`: an Error from a socket (client `error`, server
 * `tlsClientError`) or tls.TLSSocket#authorizationError (which Node sets to the code string).
 */
export function describeTlsFailure(failure: unknown, side: 'client' | 'server'): TlsFailure {
  const code = codeOf(failure);
  const kind = (code === undefined ? undefined : KINDS[code]) ?? 'other';
  const peer = side === 'client' ? 'the server' : 'the client';
  const detail = code ?? (failure instanceof Error ? failure.message : String(failure));
  const texts: Record<TlsFailureKind, string> = {
    'not-tls':
      side === 'server'
        ? 'the client does not speak TLS (a plain-text client on the TLS port?)'
        : 'the server does not speak TLS (a plain-text port?)',
    'unknown-ca': `${peer}'s certificate does not chain to the configured CA`,
    expired: `${peer}'s certificate has expired`,
    'not-yet-valid': `${peer}'s certificate is not valid yet (or a clock is wrong)`,
    'name-mismatch': `${peer}'s certificate does not carry the expected name`,
    'no-client-certificate': 'no client certificate was presented, and one is required',
    'certificate-refused-by-peer': `${peer} refused our certificate`,
    other: 'TLS handshake failed',
  };
  return { kind, code, text: `${texts[kind]} (${detail})` };
}

function codeOf(failure: unknown): string | undefined {
  if (typeof failure === 'string') return failure;
  if (typeof failure === 'object' && failure !== null && 'code' in failure) {
    const { code } = failure;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
