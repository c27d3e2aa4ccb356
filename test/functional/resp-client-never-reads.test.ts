// A client that never reads its replies, against the real CLI: clients pipeline 16 MB of PING lines
// and 256 MB of 512 KB PINGs and never read a reply. rbuddy used to read it all and queue every
// reply (peak RSS 803 MB); now it stops reading that client while its replies are not drained, so
// what it holds for them stays small, and everyone else is served meanwhile.
//
// Memory is measured as the process's own peak (VmHWM) against a generous bound far below the
// old figure, plus rbuddy's own count of the bytes it buffers for its clients (/v1/status).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { RawClient } from '../helpers/raw-client.js';
import { cliArgs, spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';

after(() => stopAllRedis());

const MB = 1024 * 1024;
/** Far below the 803 MB of the unbounded code; a tsx-run rbuddy idles near a tenth of it. */
const PEAK_RSS_BOUND = 200 * MB;
/** What rbuddy may hold for the one client: a read's worth of replies and input, with room. */
const BUFFERED_BOUND = 8 * MB;

function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match?.[1] !== undefined, 'VmHWM in /proc/<pid>/status');
  return Number(match[1]) * 1024;
}

async function clients(rbuddy: RbuddyProcess): Promise<AppStatus['clients'] | undefined> {
  const response = await fetch(`${rbuddy.httpUrl}/v1/status`);
  return ((await response.json()) as Partial<AppStatus>).clients;
}

/**
 * Writes `total` bytes of `unit` repeated, as fast as the socket takes them, until they are all
 * written or rbuddy stops reading (it reports one more client paused while our writes stay
 * queued).
 */
async function flood(
  socket: Socket,
  unit: Buffer,
  total: number,
  rbuddy: RbuddyProcess,
  pausedBefore: number,
): Promise<'sent' | 'stopped'> {
  const batch = Buffer.concat(
    Array.from({ length: Math.max(1, Math.floor(MB / unit.length)) }, () => unit),
  );
  for (let sent = 0; sent < total; sent += batch.length) {
    if (socket.write(batch)) continue;
    let drained = false;
    socket.once('drain', () => {
      drained = true;
    });
    const outcome = await waitFor(
      async () => {
        if (drained) return 'drained';
        const status = await clients(rbuddy);
        return status !== undefined && status.paused > pausedBefore && !drained
          ? 'stopped'
          : undefined;
      },
      { what: 'rbuddy to read on, or to stop reading the client', timeoutMs: 120_000 },
    );
    if (outcome === 'stopped') return 'stopped';
  }
  return 'sent';
}

test('clients that pipeline hundreds of MB of PING and never read: bounded, paused, others served', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-never-reads-'));
  const rbuddy = await spawnRbuddy(
    cliArgs({ master, active, standby }, { listen: '127.0.0.1:0', stateDir }),
  );
  // The active's own replication connection is a client until it is verified: let it become a
  // session first, so that the only clients counted below are the two floods.
  await waitFor(
    async () => {
      const response = await fetch(`${rbuddy.httpUrl}/v1/status`);
      const status = (await response.json()) as Partial<AppStatus>;
      return status.state === 'healthy' && status.sessions?.length === 1;
    },
    { what: 'rbuddy healthy, the active streaming', timeoutMs: 120_000 },
  );
  const attackers: Socket[] = [];
  const attacker = async (): Promise<Socket> => {
    const socket = connect({ host: rbuddy.resp.host, port: rbuddy.resp.port });
    attackers.push(socket);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    // No 'data' listener: the socket reads nothing (past Node's own small buffer).
    return socket;
  };
  try {
    // One floods small PING lines, the other 512 KB PINGs, whose replies are as large.
    const lines = await flood(await attacker(), Buffer.from('PING\r\n'), 16 * MB, rbuddy, 0);
    const payload = 'x'.repeat(512 * 1024);
    const bigPing = Buffer.from(`*2\r\n$4\r\nPING\r\n$${payload.length}\r\n${payload}\r\n`);
    const big = await flood(await attacker(), bigPing, 256 * MB, rbuddy, 1);
    assert.deepEqual([lines, big], ['stopped', 'stopped'], 'rbuddy stopped reading both');

    const status = await clients(rbuddy);
    assert.ok(status !== undefined);
    // The held standby's sync retries (about once a second, answered -NOMASTERLINK) are clients
    // for the moment each lasts: at least the two floods.
    assert.ok(status.connected >= 2, `${status.connected} clients connected`);
    assert.equal(status.paused, 2, 'both flooding clients are paused, not read');
    assert.ok(
      status.bufferedBytes < BUFFERED_BOUND,
      `rbuddy buffers ${status.bufferedBytes} bytes for its clients`,
    );

    // Another client is served while they sit there.
    const other = await RawClient.connect(rbuddy.resp.host, rbuddy.resp.port);
    assert.equal(await other.command('PING'), 'PONG');
    other.close();

    const peak = peakRss(rbuddy.child.pid ?? 0);
    assert.ok(peak < PEAK_RSS_BOUND, `rbuddy's peak RSS is ${Math.round(peak / MB)} MB`);
  } finally {
    for (const socket of attackers) socket.destroy();
    if (rbuddy.child.exitCode === null) rbuddy.child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  }
});
