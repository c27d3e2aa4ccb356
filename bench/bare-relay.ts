// The floor under figures 1, 3 and 5: the least any relay written for Node can add to a full
// sync's time, a WAIT round trip, or the CPU spent per GB relayed.
// A child process whose every connection is piped to the master with `socket.pipe()`, nothing
// parsed, nothing counted. The replica follows it like it follows rbuddy; what the WAIT latency
// gains over the direct path here is the price of two more loopback hops through a Node event
// loop on this machine, which no work inside rbuddy can take back.
//
// Run as a script (`node --import tsx bench/bare-relay.ts <master host> <master port>`) it
// listens on an ephemeral loopback port and prints `{"port": N}`; startBareRelay() does that.
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { hasExited, terminate, trackChild } from '../harness/processes.js';
import { waitFor } from '../harness/wait-for.js';
import type { Endpoint, RelayProcess } from './links.js';

const self = fileURLToPath(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

export async function startBareRelay(master: Endpoint): Promise<RelayProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', self, master.host, String(master.port)],
    { cwd: root, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  trackChild(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const port = await waitFor(
    () => {
      if (hasExited(child)) throw new Error(`the bare relay exited: ${output}`);
      const match = /"port":(\d+)/.exec(output);
      return match === null ? undefined : Number(match[1]);
    },
    { what: 'the bare relay to listen', timeoutMs: 30_000 },
  ).catch(async (error: unknown) => {
    await terminate(child);
    throw error;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the bare relay has no PID');
  return { host: '127.0.0.1', port, pid, stop: () => terminate(child) };
}

function serve(masterHost: string, masterPort: number): void {
  const server = createServer({ noDelay: true }, (replica: Socket) => {
    const master = connect({ host: masterHost, port: masterPort, noDelay: true });
    const end = (): void => {
      replica.destroy();
      master.destroy();
    };
    for (const socket of [replica, master]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    replica.pipe(master);
    master.pipe(replica);
  });
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === self) {
  const [host = '127.0.0.1', port = ''] = process.argv.slice(2);
  serve(host, Number(port));
}
