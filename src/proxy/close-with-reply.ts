// Closing a client connection with a last reply (a refusal, a protocol error, a limit) so that
// the client, and the operator reading its log, gets to see it.
import type { Duplex } from 'node:stream';

/** How long the peer has to read the last reply and hang up. */
const LINGER_MS = 2_000;

/**
 * Ends the socket after `reply` and destroys it once the peer hung up, or after LINGER_MS. Its
 * input is read and dropped meanwhile: closing a socket with unread input resets the connection,
 * and the reset can overtake the reply.
 */
export function endLingering(socket: Duplex, reply: Buffer): void {
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(linger));
  socket.end(reply);
}
