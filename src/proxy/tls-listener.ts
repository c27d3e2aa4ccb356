// The TLS side of the RESP listener (--tls-listen): a tls.Server whose connections, once the
// handshake and the client-certificate check are passed, are handed to the same accept path as
// the plain listener's (ProxyServer). What is decided here: who gets past the handshake
// (--tls-auth-clients, as Redis's), which verified certificate a connection carries (part of a
// replica's claim: docs/design.md, "Identity of a replica"), and that a reload of the material
// applies to new handshakes only.
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { encodeError } from '../resp/encode.js';
import type { WarnThrottle } from '../log-throttle.js';
import { certificateNames, verifiedPeerCertificate } from '../tls/peer-identity.js';
import type { ReloadableTls } from '../tls/reloadable-tls.js';
import {
  checkClientCertificates,
  keepServerCurrent,
  tlsServerOptions,
  type TlsAuthClients,
} from '../tls/server-tls.js';
import { describeTlsFailure } from '../tls/tls-failure.js';
import { endLingering } from '../lingering-close.js';
import { HandshakeGuard } from './handshake-guard.js';
import type { PresentedCertificate } from './session-types.js';

export interface TlsListenerOptions {
  material: ReloadableTls;
  authClients: TlsAuthClients;
  /** A handshake not finished by then is dropped (the auth deadline covers what follows). */
  handshakeTimeoutMs: number;
  /** Handshakes in progress at most (--max-clients); past it a new connection is closed. */
  maxHandshakes: number;
  logger: Logger;
  /** Handshake failures and refusals are a stranger's to repeat at will: throttled. */
  warnings: WarnThrottle;
  /** A connection past the handshake and the certificate check. */
  onClient: (socket: TLSSocket, certificate: PresentedCertificate | undefined) => void;
}

export interface TlsListener {
  server: TlsServer;
  /** Stops following reloads of the material. */
  detach: () => void;
  /** Connections still in their handshake (closed by close()). */
  handshakes: HandshakeGuard;
}

export function createTlsListener(options: TlsListenerOptions): TlsListener {
  const { logger: log, warnings } = options;
  const peerOf = (socket: TLSSocket): string =>
    `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
  const server = createTlsServer(
    {
      ...tlsServerOptions(options.material, options.authClients),
      handshakeTimeout: options.handshakeTimeoutMs,
      noDelay: true,
      keepAlive: true,
    },
    checkClientCertificates(
      options.authClients,
      (socket, verified) => options.onClient(socket, verified ? presented(socket) : undefined),
      (socket, reason) => {
        warnings.warn(log, 'tls-client-refused', { peer: peerOf(socket), reason }, reason);
        endLingering(socket, encodeError(`ERR rbuddy: ${reason}`));
      },
    ),
  );
  const handshakes = new HandshakeGuard({
    limit: options.maxHandshakes,
    timeoutMs: options.handshakeTimeoutMs,
    onDropped: (peer, why) =>
      warnings.warn(
        log,
        `tls-handshake-${why}`,
        { peer, limit: options.maxHandshakes, timeoutMs: options.handshakeTimeoutMs },
        why === 'limit'
          ? 'TLS connection closed: too many handshakes in progress (--max-clients)'
          : 'TLS connection closed: no finished handshake within --auth-timeout-ms',
      ),
  });
  // 'connection' comes with the raw TCP socket, before any byte of the handshake.
  server.on('connection', (socket: Socket) => handshakes.accepted(socket));
  server.on('secureConnection', (socket: TLSSocket) => handshakes.secured(socket));
  server.on('tlsClientError', (error, socket) => {
    // Node reports a failed or timed-out handshake here but leaves the socket open.
    socket.destroy();
    const failure = describeTlsFailure(error, 'server');
    warnings.warn(
      log,
      `tls-handshake-${failure.kind}`,
      { peer: peerOf(socket), kind: failure.kind, code: failure.code },
      `TLS handshake failed: ${failure.text}`,
    );
  });
  return { server, detach: keepServerCurrent(server, options.material), handshakes };
}

/** The verified client certificate's names and fingerprint; none when nothing was verified. */
function presented(socket: TLSSocket): PresentedCertificate | undefined {
  const cert = verifiedPeerCertificate(socket);
  if (cert === undefined) return undefined;
  return { names: certificateNames(cert), fingerprint256: cert.fingerprint256 };
}
