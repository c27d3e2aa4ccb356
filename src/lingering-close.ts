// Closing a connection whose peer may still be sending: a refusal, a protocol error, a limit on
// the RESP port, a request body the admin API never reads. Closed at once with input unread, the
// kernel resets the connection, and the reset can overtake the last reply: the client sees
// ECONNRESET instead of the reason (one in eight HTTP clients streaming a body lost their 413 so,
// in a loopback repro). So the close lingers, as nginx's lingering close does: the last reply,
// our FIN, then whatever the peer still sends is read and dropped until it hangs up, for at most
// `ms` and `bytes`, whichever comes first.
import type { Duplex } from 'node:stream';

export interface LingerLimits {
  /** Longest the connection stays open after the last reply. */
  ms: number;
  /** Most bytes read and dropped meanwhile. */
  bytes: number;
}

export const DEFAULT_LINGER: LingerLimits = { ms: 2_000, bytes: 1024 * 1024 };

/**
 * Reads and drops the socket's input until the peer hangs up, `limits.ms` pass or more than
 * `limits.bytes` arrive, then destroys it. The caller ends its side (after its last reply); the
 * socket's other 'data' listeners are the caller's to remove first.
 */
export function drainThenDestroy(socket: Duplex, limits: LingerLimits = DEFAULT_LINGER): void {
  socket.on('error', () => undefined);
  let dropped = 0;
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > limits.bytes) socket.destroy();
  });
  const timer = setTimeout(() => socket.destroy(), limits.ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // The peer hung up: nothing more can arrive, so nothing is left to reset.
  socket.once('end', () => socket.destroy());
  socket.resume();
}

/** Ends the socket after `reply`, lingering (drainThenDestroy). */
export function endLingering(
  socket: Duplex,
  reply: Buffer,
  limits: LingerLimits = DEFAULT_LINGER,
): void {
  drainThenDestroy(socket, limits);
  socket.end(reply);
}
