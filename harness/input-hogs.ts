// The attack the RESP port's input budget is for (src/proxy/input-budget.ts): many connections,
// each holding an incomplete command as large as its limits allow and never finishing it. Once
// authenticated (or with no --listen-password, where every connection starts so) that is a
// megabyte each, CLIENT_MAX_QUERY_BYTES; before AUTH, Redis's tiny-command limits still let one
// connection hold ten bulks of 16 KB. Used by the fuzzer (fuzz/run.ts) and the chaos flood.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeCommand } from '../src/resp/encode.js';
import { CLIENT_MAX_QUERY_BYTES, UNAUTHENTICATED_LIMITS } from '../src/resp/limits.js';

const payload = Buffer.alloc(CLIENT_MAX_QUERY_BYTES, 0x61);

/**
 * An incomplete command that holds `fill` (0 to 1) of what one connection may hold, never
 * finished (its last bulk always lacks at least its last byte and the CRLF), within the limits:
 * authenticated, `SET` with one bulk of a megabyte; unauthenticated, a multibulk of the most
 * arguments, each of the largest bulk, the last one cut. Its bytes share one buffer of payload.
 */
export function incompleteCommand(options: { authenticated: boolean; fill: number }): Buffer {
  const fill = Math.min(Math.max(options.fill, 0), 1);
  if (options.authenticated) {
    const header = Buffer.from(`*2\r\n$3\r\nSET\r\n$${CLIENT_MAX_QUERY_BYTES}\r\n`);
    // Held: the header and the payload so far, at most CLIENT_MAX_QUERY_BYTES.
    const room = CLIENT_MAX_QUERY_BYTES - header.length;
    return Buffer.concat([header, payload.subarray(0, Math.min(Math.floor(room * fill), room))]);
  }
  const { maxMultibulkLen: count, maxBulkLen: size } = UNAUTHENTICATED_LIMITS;
  const bulk = Buffer.concat([Buffer.from(`$${size}\r\n`), payload.subarray(0, size), CRLF]);
  const parts = [Buffer.from(`*${count}\r\n`)];
  for (let i = 1; i < count; i += 1) parts.push(bulk);
  parts.push(Buffer.from(`$${size}\r\n`), payload.subarray(0, Math.floor((size - 1) * fill)));
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');

export interface HogOptions {
  host: string;
  port: number;
  /** Connections opened, a batch at a time (so that the listener's backlog is not the test). */
  count: number;
  /** AUTH with it first, and hold a megabyte; undefined: hold what an unauthenticated may. */
  password?: string | undefined;
  /** Whether the hogs may hold a megabyte without AUTH (rbuddy has no --listen-password). */
  openPort?: boolean;
  /** Of what each may hold, how much it sends (0 to 1); drawn by the caller, one per hog. */
  fill: (index: number) => number;
  /** Where each connects from (default: the kernel's choice). */
  localAddress?: (index: number) => string;
}

export interface HogTally {
  opened: number;
  /** Connections that sent their whole incomplete command. */
  holding: number;
  /** Connections rbuddy closed with the error naming the input budget. */
  closedByBudget: number;
  /** Connections refused (ECONNREFUSED). */
  refused: number;
  /** Connections whose AUTH was answered otherwise than +OK (-ERR max number of clients, say). */
  authRefused: number;
  /** Connections rbuddy kept open `closeTimeoutMs` after our FIN. */
  hangs: number;
}

export interface Hogs {
  /** Settles once every connection has sent its command or been closed. */
  loaded: Promise<void>;
  tally(): HogTally;
  /** FIN on every connection still open, then waits for each to close (or counts a hang). */
  release(closeTimeoutMs: number): Promise<HogTally>;
  /** Drops every connection at once. */
  destroy(): void;
}

const BATCH = 50;

interface Hog {
  socket: Socket;
  received: string;
  closed: Promise<void>;
  isClosed: boolean;
}

export function startHogs(options: HogOptions): Hogs {
  const tally: HogTally = {
    opened: 0,
    holding: 0,
    closedByBudget: 0,
    refused: 0,
    authRefused: 0,
    hangs: 0,
  };
  const hogs: Hog[] = [];
  let stopped = false;
  const authenticated = options.password !== undefined || options.openPort === true;

  const one = (index: number): Promise<void> =>
    new Promise((loaded) => {
      const socket = connect({
        host: options.host,
        port: options.port,
        localAddress: options.localAddress?.(index),
        noDelay: true,
      });
      tally.opened += 1;
      let authed = options.password === undefined;
      const hog: Hog = { socket, received: '', isClosed: false, closed: Promise.resolve() };
      hog.closed = new Promise((resolve) => {
        socket.once('close', () => {
          hog.isClosed = true;
          if (hog.received.includes('input budget')) tally.closedByBudget += 1;
          loaded();
          resolve();
        });
      });
      hogs.push(hog);
      const send = (): void => {
        const command = incompleteCommand({ authenticated, fill: options.fill(index) });
        socket.write(command, (error) => {
          if (error === undefined || error === null) tally.holding += 1;
          loaded();
        });
      };
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED') tally.refused += 1;
      });
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => {
        // Only the start of what comes back is kept: enough for +OK and an error line.
        if (hog.received.length < 4096) hog.received += text;
        if (!authed && hog.received.includes('\r\n')) {
          authed = true;
          if (hog.received.startsWith('+OK\r\n') && !stopped) send();
          else {
            tally.authRefused += 1;
            socket.destroy();
          }
        }
      });
      socket.once('connect', () => {
        if (stopped) socket.destroy();
        else if (options.password === undefined) send();
        else socket.write(encodeCommand(['AUTH', options.password]));
      });
    });

  const loaded = (async () => {
    const all: Promise<void>[] = [];
    for (let start = 0; start < options.count && !stopped; start += BATCH) {
      const end = Math.min(start + BATCH, options.count);
      const batch = Array.from({ length: end - start }, (_, i) => one(start + i));
      all.push(...batch);
      // The next batch once this one has sent (or at most 200 ms later): the hogs pile up, and
      // a listener's backlog never overflows.
      await Promise.race([Promise.all(batch), sleep(200)]);
    }
    await Promise.all(all);
  })();

  return {
    loaded,
    tally: () => ({ ...tally }),
    async release(closeTimeoutMs) {
      stopped = true;
      await Promise.all(
        hogs.map(async (hog) => {
          if (hog.isClosed) return;
          hog.socket.end();
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), closeTimeoutMs);
          });
          const hung = await Promise.race([hog.closed.then(() => false), late]);
          clearTimeout(timer);
          if (hung) tally.hangs += 1;
          hog.socket.destroy();
        }),
      );
      return { ...tally };
    },
    destroy() {
      stopped = true;
      for (const hog of hogs) hog.socket.destroy();
    },
  };
}
