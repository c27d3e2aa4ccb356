// Sends one generated input over a fresh TCP connection, split at the given points, reads and
// discards whatever comes back, and reports how the connection ended.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Prng } from './prng.js';

export interface Delivery {
  host: string;
  port: number;
  /** The loopback address to connect from (127.0.0.x), so a case is a stranger, not a replica. */
  localAddress: string;
  input: Buffer;
  cuts: readonly number[];
  /**
   * After the last byte: half-close (FIN) and wait, drop the connection at once, or stay silent
   * for `holdMs` first (a slow client, which rbuddy's timeouts are for) and then half-close.
   */
  ending: 'fin' | 'destroy' | 'hold';
  holdMs: number;
  /** Time allowed for the peer to close after our FIN before the case counts as a hang. */
  closeTimeoutMs: number;
}

export type Outcome = 'closed' | 'hang' | 'refused';

/** Waits between two pieces: usually one turn of the event loop, sometimes a few ms. */
async function pause(rng: Prng): Promise<void> {
  if (rng.chance(0.9)) await new Promise((resolve) => setImmediate(resolve));
  else await sleep(rng.range(1, 5));
}

export function deliver(rng: Prng, d: Delivery): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const socket = connect({
      host: d.host,
      port: d.port,
      localAddress: d.localAddress,
      noDelay: true,
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => settle('closed'));
    socket.once('connect', () => {
      void (async () => {
        let start = 0;
        for (const cut of [...d.cuts, d.input.length]) {
          if (socket.destroyed) return;
          socket.write(d.input.subarray(start, cut));
          start = cut;
          if (cut < d.input.length) await pause(rng);
        }
        if (d.ending === 'destroy') {
          settle('closed');
          return;
        }
        if (d.ending === 'hold') await sleep(d.holdMs);
        socket.end();
        timer = setTimeout(() => settle('hang'), d.closeTimeoutMs);
      })();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') settle('refused');
    });
  });
}
