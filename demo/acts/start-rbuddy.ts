// Act 3: the real rbuddy CLI, as an operator runs it. It attaches the active by itself (its first
// full sync, through rbuddy) and holds the standby: an empty replica of rbuddy that refuses reads
// (-MASTERDOWN) and writes (-READONLY).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionStatus } from '../../src/proxy/session-types.js';
import { spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import type { Writer } from '../../harness/replication.js';
import { FailoverMonitor } from '../monitor.js';
import { heldStandby, untilStatus } from '../probes.js';
import { check, owned, rememberRbuddy, t0, term } from '../run-state.js';
import { DATASET_MIB, SETTINGS } from '../settings.js';
import { bytes } from '../terminal.js';
import { readerLine, readerText, writerText } from '../texts.js';
import type { Nodes } from './start-nodes.js';

/** rbuddy running and watched, and what it was like before anything failed. */
export interface RbuddyStarted {
  rbuddy: RbuddyProcess;
  monitor: FailoverMonitor;
  /** When the CLI was started, and when rbuddy first reported healthy. */
  rbuddyStart: number;
  activeSynced: number;
  /** The snapshot of the active's first full sync through rbuddy. */
  firstSnap: SessionStatus['snapshot'];
  epochBefore: number;
  /** The active's min-replicas-to-write before rbuddy ever guarded it. */
  guardBefore: string[];
}

export async function startRbuddy(nodes: Nodes, writer: Writer): Promise<RbuddyStarted> {
  term.heading('3. Start rbuddy: it attaches the active by itself');
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-demo-state-'));
  owned.dirs.push(stateDir);
  // The same CLI an operator runs (`node dist/cli.js …`), here from source through tsx.
  const args = rbuddyArgs(nodes, '127.0.0.1:0', stateDir);
  term.line(term.paint('dim', `  $ rbuddy ${args.join(' ')}`));
  const rbuddyStart = Date.now();
  const rbuddy = await spawnRbuddy(args);
  owned.rbuddy = rbuddy;
  rememberRbuddy(rbuddy);
  owned.pids.push({ what: 'rbuddy', pid: rbuddy.child.pid ?? -1 });
  term.line(
    `  rbuddy (pid ${rbuddy.child.pid}) relays on ${rbuddy.resp.host}:${rbuddy.resp.port}, ` +
      `status at ${rbuddy.httpUrl}/v1/status`,
  );
  const monitor = watchRbuddy(rbuddy, nodes, writer);
  owned.monitor = monitor;
  monitor.start();

  const attached = await untilAttached(monitor, nodes);
  return { rbuddy, monitor, rbuddyStart, ...attached };
}

/** The demo's rbuddy command line: its three nodes, the story's timings, `listen`, `stateDir`. */
export function rbuddyArgs(
  { master, server1, server2 }: Pick<Nodes, 'master' | 'server1' | 'server2'>,
  listen: string,
  stateDir: string,
): string[] {
  return [
    '--master',
    master.address,
    '--active',
    server1.address,
    '--standby',
    server2.address,
    '--listen',
    listen,
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    '--grace-ms',
    String(SETTINGS.graceMs),
    '--drain-ms',
    String(SETTINGS.drainMs),
    '--probe-interval-ms',
    String(SETTINGS.probeIntervalMs),
    '--probe-timeout-ms',
    String(SETTINGS.probeTimeoutMs),
  ];
}

/** A monitor (not started) on `rbuddy`'s log and status, the reader and writer in its live lines. */
export function watchRbuddy(
  rbuddy: RbuddyProcess,
  { r1, r2 }: Pick<Nodes, 'r1' | 'r2'>,
  writer: Writer,
): FailoverMonitor {
  const monitor = new FailoverMonitor(term, rbuddy, [r1, r2], t0);
  monitor.extraLive = () => [
    ...(owned.reader === undefined ? [] : [readerLine(owned.reader, monitor)]),
    `${term.paint('dim', 'writer'.padEnd(9))}${term.paint('dim', writerText(writer))}`,
  ];
  monitor.addPipeTicker({
    everyMs: 2_000,
    line: () =>
      owned.reader === undefined
        ? undefined
        : { who: 'reader', colour: 'bold', text: readerText(owned.reader, monitor) },
  });
  return monitor;
}

/** Waits until rbuddy has attached the active and holds the standby, and checks it says so. */
export async function untilAttached(
  monitor: FailoverMonitor,
  { client1, client2, r1, r2 }: Nodes,
): Promise<Omit<RbuddyStarted, 'rbuddy' | 'monitor' | 'rbuddyStart'>> {
  const healthy = await untilStatus(
    monitor,
    'rbuddy to attach the active and report healthy',
    (s) =>
      s.state === 'healthy' &&
      monitor.session(r1)?.lastAck != null &&
      monitor.states.some((c) => c.to === 'healthy'),
  );
  const activeSynced = monitor.states.find((c) => c.to === 'healthy')?.at ?? Date.now();
  const firstSnap = monitor.sessions(r1).find((r) => r.snapshot !== null)?.snapshot ?? null;
  check(
    healthy.active === r1.address && healthy.standby === r2.address && healthy.epoch !== null,
    `rbuddy is healthy at epoch ${String(healthy.epoch)}: active replica1, standby replica2`,
  );
  check(
    firstSnap !== null &&
      firstSnap.size !== null &&
      firstSnap.transferred === firstSnap.size &&
      firstSnap.size >= DATASET_MIB * 1024 * 1024,
    `replica1 full-synced through rbuddy: a ${bytes(firstSnap?.size ?? 0)} snapshot relayed completely`,
  );
  const held = await heldStandby(client2, 'demo:standby-write');
  check(
    held === undefined,
    held ??
      'replica2 stands by as rbuddy holds it: an empty replica of rbuddy, reads -MASTERDOWN, writes -READONLY',
  );
  const epochBefore = healthy.epoch ?? -1;
  const guardBefore = (await client1.config('GET', 'min-replicas-to-write')) as string[];
  return { activeSynced, firstSnap, epochBefore, guardBefore };
}
