// Connections on the TLS listener between their TCP accept and the end of their TLS handshake.
// Until the handshake is done, no admission rule sees them (there is no client yet), yet each
// costs a socket and OpenSSL's state: a stranger could open thousands and trickle a ClientHello
// one byte at a time. So each has an absolute deadline (Node's own handshakeTimeout neither
// closes the socket nor is it absolute), and there are at most `limit` of them at once; past
// that a new connection is closed at once, as Redis closes a client past maxclients.
import type { Socket } from 'node:net';

export interface HandshakeGuardOptions {
  /** Handshakes in progress at most. */
  limit: number;
  /** From the TCP accept to the end of the handshake. */
  timeoutMs: number;
  /** A connection was closed: over the limit, or its handshake took too long. */
  onDropped: (peer: string, why: 'limit' | 'timeout') => void;
}

interface Pending {
  socket: Socket;
  timer: NodeJS.Timeout;
}

const peerOf = (socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
  `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;

export class HandshakeGuard {
  // By peer address and port: unique among open TCP connections to one listener, and the same
  // on the raw socket and on the TLS socket wrapped around it.
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly options: HandshakeGuardOptions) {}

  /** Handshakes in progress. */
  get size(): number {
    return this.pending.size;
  }

  /** A new TCP connection on the TLS listener (the server's 'connection' event). */
  accepted(socket: Socket): void {
    const peer = peerOf(socket);
    if (this.pending.size >= this.options.limit || this.pending.has(peer)) {
      socket.destroy();
      this.options.onDropped(peer, 'limit');
      return;
    }
    const timer = setTimeout(() => {
      this.forget(peer, socket);
      socket.destroy();
      this.options.onDropped(peer, 'timeout');
    }, this.options.timeoutMs);
    timer.unref();
    this.pending.set(peer, { socket, timer });
    socket.once('close', () => this.forget(peer, socket));
  }

  /** The handshake of a connection finished (the server's 'secureConnection' event). */
  secured(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    const peer = peerOf(socket);
    const entry = this.pending.get(peer);
    if (entry !== undefined) this.forget(peer, entry.socket);
  }

  /** Closes every connection still in its handshake (shutdown). */
  closeAll(): void {
    for (const [peer, entry] of this.pending) {
      this.forget(peer, entry.socket);
      entry.socket.destroy();
    }
  }

  private forget(peer: string, socket: Socket): void {
    const entry = this.pending.get(peer);
    if (entry === undefined || entry.socket !== socket) return;
    clearTimeout(entry.timer);
    this.pending.delete(peer);
  }
}
