// Strangers on both of rbuddy's ports while it works: connections that send random bytes (RESP
// and HTTP shaped garbage), and connections that open and stay silent, to the limits' edge
// (rbuddy's --max-clients is 1000 and the admin API's 64). They must never disturb a replica's
// session, a failover, or the admin API's answers to the readers.
import { connect, type Socket } from 'node:net';
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

export function startFlood(topo: ChaosTopology, seed: number): Heal {
  const rng = createPrng(seed);
  const sockets = new Set<Socket>();
  const ports = [topo.listenAddress().port, new URL(topo.httpUrl).port].map(Number);
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
  return () => {
    running = false;
    clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    return Promise.resolve();
  };
}

function randomBytes(rng: ReturnType<typeof createPrng>, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) bytes[i] = rng.int(0, 255);
  return bytes;
}
