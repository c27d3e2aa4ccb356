// The admin API's close after a reply that leaves a request body unread (413, or a 400 before
// the body): a lingering one (src/lingering-close.ts), so the client reads the reply, not a reset.
// Nothing read after the reply is parsed: a request sent after it is never answered, never run.
import type { Socket } from 'node:net';
import { DEFAULT_LINGER, drainThenDestroy, type LingerLimits } from '../lingering-close.js';

/**
 * Makes the close that node:http performs after the last reply on `socket` a lingering one. It
 * relies on node:http ending a `Connection: close` exchange with `socket.destroySoon()`
 * (lib/_http_server.js, resOnFinish); test/unit/lingering-close.test.ts fails if that changes.
 */
export function lingerOnClose(socket: Socket, limits: LingerLimits = DEFAULT_LINGER): void {
  const target = socket as Socket & { destroySoon: () => void };
  target.destroySoon = () => {
    socket.end();
    // The HTTP parser reads no further: the bytes left are a refused body, or worse. (Adding
    // a 'data' listener also takes the socket back from the parser where it read it directly.)
    socket.removeAllListeners('data');
    drainThenDestroy(socket, limits);
  };
}
