// Closing a connection whose request body was never read. Closed at once, the kernel answers the
// unread bytes with a reset, and a client still sending its body may lose the reply to it: one in
// eight clients streaming a body saw ECONNRESET instead of 413 (a CI run, then a loopback repro).
// So the connection closes the way nginx's lingering close does: the reply, then our FIN, then
// whatever the client still sends is read and discarded until it closes, for at most `ms` and
// `bytes`, whichever comes first. Nothing read meanwhile is parsed: a request pipelined after the
// refused one is never answered, never run.
import type { Socket } from 'node:net';

export interface LingerLimits {
  /** Longest the connection stays open after the reply. */
  ms: number;
  /** Most bytes read and discarded after the reply. */
  bytes: number;
}

export const DEFAULT_LINGER: LingerLimits = { ms: 2_000, bytes: 1024 * 1024 };

/**
 * Makes the close that node:http performs after the last reply on `socket` a lingering one. It
 * relies on node:http ending a `Connection: close` exchange with `socket.destroySoon()`
 * (lib/_http_server.js, resOnFinish); test/unit/lingering-close.test.ts fails if that changes.
 */
export function lingerOnClose(socket: Socket, limits: LingerLimits = DEFAULT_LINGER): void {
  const target = socket as Socket & { destroySoon: () => void };
  target.destroySoon = () => {
    socket.end();
    // The HTTP parser reads no further: the bytes left are a refused body, or worse.
    socket.removeAllListeners('data');
    let discarded = 0;
    socket.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > limits.bytes) socket.destroy();
    });
    const timer = setTimeout(() => socket.destroy(), limits.ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    // The client closed its side: nothing more can arrive, so nothing is left to reset.
    socket.once('end', () => socket.destroy());
    socket.resume();
  };
}
