// The native reference beside the bare Node pipe: HAProxy (Debian's package) in TCP mode,
// forwarding every connection to the master. It is what an operator would put on a replication
// link if the link only needed relaying, and it is written in C with its own event loop, so what
// it adds to a full sync or a WAIT round trip is the price of the extra hop itself, not of a
// runtime: what a native relay costs on this machine. Default settings but for the timeouts
// (a replication link is long-lived): its own thread count, no splicing. In the TLS part it
// terminates TLS on both sides as rbuddy does: it requires and verifies the replica's client
// certificate, verifies the master's (name `localhost`) and presents its own to the master.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, hasExited, terminate, trackChild } from '../harness/processes.js';
import { waitFor } from '../harness/wait-for.js';
import type { Endpoint, RelayProcess } from './links.js';
import type { BenchTls } from './tls.js';

/** The version `haproxy -v` reports (`2.6.12`), or why HAProxy cannot run here. */
export function haproxyVersion(): { version: string } | { missing: string } {
  try {
    const out = execFileSync('haproxy', ['-v'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const version = /HAProxy version (\d+(?:\.\d+)*)/.exec(out)?.[1];
    return version === undefined ? { missing: `haproxy -v said ${out.trim()}` } : { version };
  } catch {
    return { missing: 'haproxy is not installed (apt-get install haproxy)' };
  }
}

export async function startHaproxyRelay(master: Endpoint, tls?: BenchTls): Promise<RelayProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-bench-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  let bindTls = '';
  let serverTls = '';
  if (tls !== undefined) {
    // HAProxy takes the certificate and its key in one PEM file.
    const pem = join(dir, 'bench.pem');
    writeFileSync(pem, `${readFileSync(tls.cert, 'utf8')}${readFileSync(tls.key, 'utf8')}`, {
      mode: 0o600,
    });
    bindTls = ` ssl crt ${pem} ca-file ${tls.ca} verify required`;
    serverTls = ` ssl crt ${pem} ca-file ${tls.ca} verify required verifyhost localhost`;
  }
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 64',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 1h',
      '  timeout server 1h',
      'listen replication',
      `  bind 127.0.0.1:${port}${bindTls}`,
      `  server master ${master.host}:${master.port}${serverTls}`,
      '',
    ].join('\n'),
  );
  // -db: stay in the foreground, so that the PID is HAProxy's own (its threads included).
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const stop = async (): Promise<void> => {
    try {
      await terminate(child);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await waitFor(
      () => {
        if (hasExited(child)) throw new Error(`haproxy exited: ${output}`);
        return accepts(port);
      },
      { what: 'haproxy to listen', timeoutMs: 10_000, intervalMs: 50 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('haproxy has no PID');
  return { host: '127.0.0.1', port, pid, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
