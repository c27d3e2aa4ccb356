// The link to the master over TLS (--master-tls), for every replication session. Kept apart from
// the plain link in proxy-server.ts, which reads into one reused buffer (net's `onread`): TLS
// sockets have no `onread`, so this link reads 'data' events, each chunk a Buffer of its own.
import { connect } from 'node:tls';
import { formatHostPort, type HostPort } from '../config/types.js';
import { UpstreamConnectError, UpstreamTimeoutError } from '../errors.js';
import { tlsConnectOptions } from '../tls/client-tls-options.js';
import type { TlsMaterialSource } from '../tls/reloadable-tls.js';
import { describeTlsFailure } from '../tls/tls-failure.js';
import type { UpstreamLink } from './session-types.js';

export interface MasterTls {
  /** The material current when a session connects (a reload applies to the next one). */
  source: TlsMaterialSource;
  /** The name the master's certificate must carry (--master-tls-servername); default its host. */
  servername?: string | undefined;
}

/**
 * Connects to the master over TLS and resolves once the handshake is done. A handshake that
 * fails (unknown CA, name mismatch, expired certificate) rejects with the reason in words.
 */
export function connectUpstreamTls(
  master: HostPort,
  tls: MasterTls,
  timeoutMs: number,
): Promise<UpstreamLink> {
  const socket = connect({
    ...tlsConnectOptions(tls.source, { host: master.host, servername: tls.servername }),
    port: master.port,
  });
  // As the plain link's: tls.connect takes neither as an option.
  socket.setNoDelay(true);
  socket.setKeepAlive(true);
  let tcpConnected = false;
  socket.once('connect', () => {
    tcpConnected = true;
  });
  const link: UpstreamLink = {
    stream: socket,
    reusesChunks: false,
    // Until the session registers, the socket is not flowing: nothing is read, nothing lost.
    onData: (onChunk) => socket.on('data', onChunk),
  };
  return new Promise<UpstreamLink>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new UpstreamTimeoutError(
          `connecting to the master ${formatHostPort(master)} over TLS timed out after ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(link);
    });
    socket.once('error', (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new UpstreamConnectError(
          `cannot connect to the master ${formatHostPort(master)} over TLS: ${upstreamTlsFailure(error, tcpConnected)}`,
          { cause: error },
        ),
      );
    });
  });
}

/**
 * Why a TLS connection to the master failed: before the TCP connection (refused, unreachable)
 * the error says it all; after it, the handshake failed and OpenSSL's words need translating.
 */
export function upstreamTlsFailure(error: Error, tcpConnected: boolean): string {
  return tcpConnected ? describeTlsFailure(error, 'client').text : error.message;
}
