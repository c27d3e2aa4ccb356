// rbuddy as the failover figures run it: the real CLI as a child process (compiled, like the
// relay figures, or through tsx), with a real standby, keeping every event line it logs so that
// the failover's steps can be timed from the proxy's own clock.
//
// bench/proxy.ts starts the relay figures' proxy with an unreachable standby (so that the engine
// never acts); this one wants the engine to act, and needs the event log lines, which proxy.ts
// does not keep.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppStatus } from '../src/app.js';
import type { HostPort } from '../src/config-types.js';
import type { EventType } from '../src/notify/events.js';
import { hasExited, terminate, trackChild } from '../test/helpers/processes.js';
import { waitFor } from '../test/helpers/wait-for.js';
import { assertIsNode } from './proc-stats.js';
import type { ProxyOptions } from './proxy.js';

export interface LoggedEvent {
  type: EventType;
  /** Epoch ms of the event's `timestamp`. */
  at: number;
  epoch: number;
  reason: string | undefined;
}

export interface RbuddyUnderTest {
  readonly pid: number;
  readonly resp: HostPort;
  readonly httpUrl: string;
  /** Every event logged so far, in order. */
  events(): LoggedEvent[];
  /** Epoch ms of every log line whose message contains `text`. */
  logged(text: string): number[];
  /** The last log lines, for error messages. */
  logTail(lines?: number): string;
  status(): Promise<AppStatus>;
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const running = new Set<RbuddyUnderTest>();
const stateDirs = new Set<string>();

process.on('exit', () => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts rbuddy with `args` (plus a fresh --state-dir and ephemeral listeners). `cli` is the
 * compiled cli.js for the `dist` runtime (see proxy.ts's buildProxy).
 */
export async function startRbuddyCli(
  options: ProxyOptions,
  cli: string | undefined,
  args: readonly string[],
): Promise<RbuddyUnderTest> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-bench-failover-state-'));
  stateDirs.add(stateDir);
  const removeStateDir = (): void => {
    rmSync(stateDir, { recursive: true, force: true });
    stateDirs.delete(stateDir);
  };
  const fullArgs = [
    ...args,
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    '--log-level',
    'info',
  ];
  let command: string[];
  if (options.runtime === 'dist') {
    if (cli === undefined) throw new Error('the dist runtime needs the compiled cli.js');
    command = [...options.nodeArgs, cli, ...fullArgs];
  } else {
    command = ['--import', 'tsx', 'src/cli.ts', ...fullArgs];
  }
  const child: ChildProcess = spawn(process.execPath, command, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);

  const events: LoggedEvent[] = [];
  const messages: Array<{ msg: string; at: number }> = [];
  const tail: string[] = [];
  const listeners = new Map<string, HostPort>();
  let pending = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > 200) tail.shift();
      parseLine(line, events, messages, listeners);
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4_000);
  });

  let resp: HostPort;
  let httpUrl: string;
  try {
    const [r, h] = await waitFor(
      () => {
        if (hasExited(child)) throw new Error(`rbuddy exited early: ${stderr}`);
        const respReady = listeners.get('RESP listener ready');
        const httpReady = listeners.get('admin HTTP listener ready');
        return respReady !== undefined && httpReady !== undefined
          ? ([respReady, httpReady] as const)
          : undefined;
      },
      { what: 'rbuddy to listen', timeoutMs: 30_000 },
    );
    resp = r;
    httpUrl = `http://${h.host}:${h.port}`;
    if (child.pid === undefined) throw new Error('rbuddy child has no PID');
    assertIsNode(child.pid);
  } catch (error) {
    await terminate(child);
    removeStateDir();
    throw error;
  }
  const pid = child.pid;

  const rbuddy: RbuddyUnderTest = {
    pid,
    resp,
    httpUrl,
    events: () => [...events],
    logged: (text) => messages.filter((m) => m.msg.includes(text)).map((m) => m.at),
    logTail: (lines = 30) => [...tail.slice(-lines), ...(stderr === '' ? [] : [stderr])].join('\n'),
    async status() {
      const response = await fetch(`${httpUrl}/v1/status`, { signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`GET /v1/status: HTTP ${response.status}`);
      return (await response.json()) as AppStatus;
    },
    async stop() {
      running.delete(rbuddy);
      try {
        await terminate(child);
      } finally {
        removeStateDir();
      }
    },
  };
  running.add(rbuddy);
  return rbuddy;
}

/** Stops every rbuddy this module started and that still runs (the error and Ctrl-C path). */
export async function stopAllRbuddyClis(): Promise<void> {
  await Promise.allSettled([...running].map((rbuddy) => rbuddy.stop()));
}

interface LogLine {
  msg?: unknown;
  time?: unknown;
  listen?: HostPort;
  event?: { type?: EventType; timestamp?: string; epoch?: number; data?: { reason?: unknown } };
}

function parseLine(
  line: string,
  events: LoggedEvent[],
  messages: Array<{ msg: string; at: number }>,
  listeners: Map<string, HostPort>,
): void {
  let entry: LogLine;
  try {
    entry = JSON.parse(line) as LogLine;
  } catch {
    return;
  }
  if (typeof entry.msg !== 'string') return;
  messages.push({
    msg: entry.msg,
    at: typeof entry.time === 'string' ? Date.parse(entry.time) : NaN,
  });
  if (entry.msg.endsWith('listener ready') && entry.listen !== undefined) {
    listeners.set(entry.msg, entry.listen);
  }
  const event = entry.event;
  if (entry.msg.startsWith('event ') && event?.type !== undefined) {
    const reason = event.data?.reason;
    events.push({
      type: event.type,
      at: Date.parse(event.timestamp ?? ''),
      epoch: event.epoch ?? NaN,
      reason: typeof reason === 'string' ? reason : undefined,
    });
  }
}

export interface SyncAckTimes {
  /** Epoch ms: the proxy finished relaying the snapshot to the replica (its session's view). */
  snapshotRelayedAt: number | null;
  /** Epoch ms of the first REPLCONF ACK the replica sent after that. */
  firstAckAt: number | null;
}

export interface SyncAckWatch {
  stop(): Promise<SyncAckTimes>;
}

/**
 * Polls GET /v1/status every 50 ms for `replica`'s session: when the relayed snapshot ended and
 * when the replica's first ACK after it arrived (the engine's "synced" needs both, SPEC §5 step
 * 5). ACKs come about once a second, so a 50 ms poll sees the first one before the next.
 */
export function watchSyncAcks(rbuddy: RbuddyUnderTest, replica: string): SyncAckWatch {
  const times: SyncAckTimes = { snapshotRelayedAt: null, firstAckAt: null };
  let active = true;
  const loop = (async () => {
    while (active) {
      try {
        const session = (await rbuddy.status()).sessions.find((s) => s.replica === replica);
        const finished = session?.snapshot?.finishedAt;
        if (finished != null) {
          const relayedAt = Date.parse(finished);
          if (times.snapshotRelayedAt !== relayedAt) {
            // A new snapshot (a retried sync): start over.
            times.snapshotRelayedAt = relayedAt;
            times.firstAckAt = null;
          }
          const ackAt = session?.lastAck == null ? NaN : Date.parse(session.lastAck.at);
          if (times.firstAckAt === null && ackAt >= relayedAt) times.firstAckAt = ackAt;
        }
      } catch {
        // A slow answer is a missed poll, not a failure of the run.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      active = false;
      await loop;
      return times;
    },
  };
}
