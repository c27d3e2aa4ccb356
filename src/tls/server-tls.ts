// The server side of a TLS hop (the RESP listener, the admin HTTPS listener): the options that
// implement `--tls-auth-clients` as Redis does, the check that `optional` needs after the
// handshake, and keeping a server's material current across reloads.

import type { Server as TlsServer, TlsOptions, TLSSocket } from 'node:tls';
import type { ReloadableTls, TlsMaterialSource } from './reloadable-tls.js';
import { describeTlsFailure } from './tls-failure.js';

/** Redis's `tls-auth-clients`: `yes` requires a valid client certificate, `optional` checks one
 * if the client sends it, `no` never asks. */
export type TlsAuthClients = 'yes' | 'no' | 'optional';

/**
 * Options for tls.createServer / https.createServer. OpenSSL verifies client certificates during
 * the handshake, but the refusal is left to {@link checkClientCertificates} right after it, never
 * to Node: Node's own refusal (`rejectUnauthorized: true`) destroys the socket without a word, so
 * neither side learns why (the server sees "socket hang up", the client a bare close). Ours names
 * the reason in the log and lets the caller answer an `-ERR` first.
 */
export function tlsServerOptions(
  source: TlsMaterialSource,
  authClients: TlsAuthClients,
): TlsOptions {
  return {
    ...source.current.contextOptions,
    requestCert: authClients !== 'no',
    rejectUnauthorized: false,
  };
}

export type ClientCertificateVerdict =
  { accepted: true; verified: boolean } | { accepted: false; reason: string };

/**
 * Whether a client that completed the handshake may stay: `yes` needs a certificate that OpenSSL
 * verified; `optional` takes a client without one but refuses one that was sent and failed, as
 * Redis's tls-auth-clients optional does (SSL_VERIFY_PEER without
 * SSL_VERIFY_FAIL_IF_NO_PEER_CERT in tls.c).
 */
export function clientCertificateVerdict(
  socket: TLSSocket,
  authClients: TlsAuthClients,
): ClientCertificateVerdict {
  if (socket.authorized) return { accepted: true, verified: true };
  if (authClients === 'no') return { accepted: true, verified: false };
  const sent = Object.keys(socket.getPeerCertificate()).length > 0;
  if (authClients === 'optional' && !sent) return { accepted: true, verified: false };
  return {
    accepted: false,
    reason: sent
      ? `client certificate refused: ${describeTlsFailure(socket.authorizationError, 'server').text}`
      : 'no client certificate presented (--tls-auth-clients yes requires one)',
  };
}

/**
 * Wraps a server's `secureConnection` handler so that no connection reaches it without passing
 * {@link clientCertificateVerdict}: the one place `--tls-auth-clients` is enforced, since the
 * server options leave refusal to us. `refuse` owns the refused socket (it may write an `-ERR`
 * and end it); it is destroyed if `refuse` leaves it open.
 */
export function checkClientCertificates(
  authClients: TlsAuthClients,
  accept: (socket: TLSSocket, verified: boolean) => void,
  refuse: (socket: TLSSocket, reason: string) => void,
): (socket: TLSSocket) => void {
  return (socket) => {
    const verdict = clientCertificateVerdict(socket, authClients);
    if (verdict.accepted) {
      accept(socket, verdict.verified);
      return;
    }
    try {
      refuse(socket, verdict.reason);
    } finally {
      if (!socket.writableEnded && !socket.destroyed) socket.destroy();
    }
  };
}

/**
 * Gives `server` each reloaded material; existing connections keep theirs
 * (tls.Server#setSecureContext applies to handshakes that start afterwards). Returns a detach.
 */
export function keepServerCurrent(server: TlsServer, tls: ReloadableTls): () => void {
  return tls.onReload((material) => server.setSecureContext({ ...material.contextOptions }));
}
