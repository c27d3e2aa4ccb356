// One GET on a fresh connection, for the tests that watch what a node's readers get while rbuddy
// holds it (-MASTERDOWN) or while it answers nils: the reply's first line, or the connection
// error's code (`conn:ECONNREFUSED` while the node restarts).
import { connect } from 'node:net';
import type { RedisServer } from '../../harness/redis-server.js';

export function getOnce(server: RedisServer, key: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: server.port });
    let reply = '';
    const done = (answer: string): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(5_000, () => done('conn:timeout'));
    socket.on('connect', () => socket.write(`GET ${key}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end >= 0) done(reply.slice(0, end));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => done(`conn:${error.code ?? 'error'}`));
    socket.on('close', () => done(reply === '' ? 'conn:closed' : reply));
  });
}

/** The kind of an answer: an error's code (`-MASTERDOWN`), or the answer itself (`$-1`: a nil). */
export function answerKind(answer: string): string {
  return answer.startsWith('-') ? (answer.split(' ')[0] ?? answer) : answer;
}
