// The plain TCP link to the master, for every replication session (the TLS one is
// upstream-tls.ts). The socket reads into one buffer of its own, reused for every read (net's
// `onread`), instead of a fresh 64 KB Buffer per read: relaying a snapshot then costs neither an
// allocation per chunk nor the garbage it leaves (see docs/benchmarks.md).
import { connect } from 'node:net';
import { formatHostPort, type HostPort } from '../config/types.js';
import { UpstreamConnectError, UpstreamTimeoutError } from '../errors.js';
import type { UpstreamLink } from './session-types.js';

/** One read buffer per upstream connection: large reads mean fewer wake-ups per GB. */
const UPSTREAM_READ_BUFFER = 256 * 1024;

/** Connects to the master and resolves once connected. */
export function connectUpstreamPlain(master: HostPort, timeoutMs: number): Promise<UpstreamLink> {
  let handler: ((chunk: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  const socket = connect({
    host: master.host,
    port: master.port,
    noDelay: true,
    keepAlive: true,
    onread: {
      buffer: Buffer.allocUnsafe(UPSTREAM_READ_BUFFER),
      callback: (size: number, buffer: Uint8Array): boolean => {
        const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, size);
        // Nothing is expected before the session registers, but never drop a byte.
        if (handler === undefined) early.push(Buffer.from(chunk));
        else handler(chunk);
        // Keep reading; the Hop pauses the socket itself while a write holds a view.
        return true;
      },
    },
  });
  const link: UpstreamLink = {
    stream: socket,
    reusesChunks: true,
    onData(onChunk) {
      handler = onChunk;
      for (const chunk of early.splice(0)) onChunk(chunk);
    },
  };
  return new Promise<UpstreamLink>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new UpstreamTimeoutError(
          `connecting to the master ${formatHostPort(master)} timed out after ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(link);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new UpstreamConnectError(
          `cannot connect to the master ${formatHostPort(master)}: ${error.message}`,
          { cause: error },
        ),
      );
    });
  });
}
