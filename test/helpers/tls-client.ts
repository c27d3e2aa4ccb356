// What the TLS listener's tests say to it: rbuddy's flags for a TLS listener on a free loopback
// port, and one PING over a new TLS connection presenting a client certificate.
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import type { HostPort } from '../../src/config/types.js';
import type { CertFiles } from './tls-certs.js';

/** `--tls-listen 127.0.0.1:0` with its certificate, key and the CA of client certificates. */
export function tlsListenerArgs(server: CertFiles, ca: string): string[] {
  return [
    ...['--tls-listen', '127.0.0.1:0'],
    ...['--tls-cert-file', server.cert, '--tls-key-file', server.key],
    ...['--tls-ca-cert-file', ca],
  ];
}

/**
 * A handshake presenting `cert` (verifying the listener as `localhost` against `ca`), then PING.
 * Resolves to the first reply line, or to whatever came before the connection closed (an error
 * as `[error …]`): a refusal is an answer too.
 */
export function tlsPing(listen: HostPort, ca: string, cert: CertFiles): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = tlsConnect({
      host: listen.host,
      port: listen.port,
      ca: readFileSync(ca),
      cert: readFileSync(cert.cert),
      key: readFileSync(cert.key),
      servername: 'localhost',
    });
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.endsWith('\r\n')) {
        resolve(text);
        socket.destroy();
      }
    });
    socket.on('error', (error: Error) => (text += `[error ${error.message}]`));
    socket.on('close', () => resolve(text));
  });
}
