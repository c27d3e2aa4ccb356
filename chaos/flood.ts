// Strangers on both of rbuddy's ports while it works: connections that send random bytes (RESP
// and HTTP shaped garbage), and connections that open and stay silent, to the limits' edge
// (rbuddy's --max-clients is 1000 and the admin API's 64). They must never disturb a replica's
// session, a failover, or the admin API's answers to the readers.
//
// Half the floods also hold rbuddy's input budget against it (harness/input-hogs.ts): a few
// hundred RESP connections each sending most of a megabyte of a command it never finishes. The
// chaos rbuddy has no --listen-password, so every connection starts authenticated and may hold a
// megabyte (CLIENT_MAX_QUERY_BYTES) as a stranger; past the 32 MiB budget rbuddy closes the
// biggest holders.
import { connect, type Socket } from 'node:net';
import { startHogs } from '../harness/input-hogs.js';
import type { Heal } from './faults.js';
import { createPrng } from './prng.js';
import type { ChaosTopology } from './topology.js';

const GARBAGE = [
  '*3\r\n$3\r\nSET\r\n$-7\r\n',
  '*99999999999\r\n',
  '$4294967296\r\n',
  'PSYNC ? -1\r\n',
  'REPLCONF listening-port 1\r\nPSYNC ? -1\r\n',
  'GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n',
  'POST /v1/failover HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong\r\n\r\n',
  '\u00ff\u00fe\u0000\r\n\r\n',
];

/**
 * Connections of the input-budget variant, far fewer than --max-clients (1000). Without the budget
 * rbuddy holds 150 MB or more of their commands, past the RSS check's bound (chaos/observer.ts);
 * with it, at most 32 MiB.
 */
const HOGS = { min: 180, max: 220 };

export function startFlood(topo: ChaosTopology, seed: number): { heal: Heal; detail: string } {
  const rng = createPrng(seed);
  const sockets = new Set<Socket>();
  const resp = topo.listenAddress();
  const ports = [resp.port, new URL(topo.httpUrl).port].map(Number);
  const hogCount = rng.chance(0.5) ? rng.int(HOGS.min, HOGS.max) : 0;
  const fills = Array.from({ length: hogCount }, () => 0.8 + 0.2 * rng.next());
  const hogs =
    hogCount === 0
      ? undefined
      : startHogs({ ...resp, count: hogCount, openPort: true, fill: (i) => fills[i] ?? 1 });
  let running = true;
  const open = (): void => {
    if (!running) return;
    const port = rng.pick(ports);
    const silent = rng.chance(0.3);
    const pieces = Array.from({ length: rng.int(1, 4) }, () =>
      rng.chance(0.5) ? rng.pick(GARBAGE) : randomBytes(rng, rng.int(1, 2048)),
    );
    const socket = connect(port, '127.0.0.1');
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', () => undefined);
    socket.on('connect', () => {
      if (!silent) for (const piece of pieces) socket.write(piece);
    });
  };
  const timer = setInterval(() => {
    // At most 60 open at once: floods the admin API's 64 without keeping the readers out for long.
    for (let i = 0; i < 5 && sockets.size < 60; i += 1) open();
    // Old ones go, new ones come: connection churn, not only a standing crowd.
    for (const socket of [...sockets].slice(0, 2)) socket.destroy();
  }, 50);
  const heal = (): Promise<void> => {
    running = false;
    clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    hogs?.destroy();
    return Promise.resolve();
  };
  const detail =
    hogCount === 0
      ? 'garbage and silent connections'
      : `garbage and silent connections, and ${hogCount} holding most of a megabyte each (the input budget)`;
  return { heal, detail };
}

function randomBytes(rng: ReturnType<typeof createPrng>, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) bytes[i] = rng.int(0, 255);
  return bytes;
}
