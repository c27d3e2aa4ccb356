// rbuddy as the failover figures run it: the real CLI as a child process (compiled, like the
// relay figures, or through tsx), with a real standby, keeping every event line it logs so that
// the failover's steps can be timed from the proxy's own clock.
//
// bench/proxy.ts starts the relay figures' proxy with an unreachable standby (so that the engine
// never acts); this one wants the engine to act, and reads its event log lines.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppStatus } from '../src/app.js';
import type { HostPort } from '../src/config/types.js';
import type { EventType } from '../src/notify/events.js';
import { terminate } from '../harness/processes.js';
import { spawnRbuddy, type RbuddyProcess } from '../harness/rbuddy-process.js';
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
  let spawned: RbuddyProcess;
  try {
    if (options.runtime === 'dist' && cli === undefined) {
      throw new Error('the dist runtime needs the compiled cli.js');
    }
    spawned = await spawnRbuddy(fullArgs, {
      ...(options.runtime === 'dist' && cli !== undefined
        ? { node: [...options.nodeArgs, cli] }
        : {}),
    });
  } catch (error) {
    removeStateDir();
    throw error;
  }
  const { child, resp, httpUrl } = spawned;
  const pid = child.pid;
  if (pid === undefined) throw new Error('rbuddy child has no PID');
  assertIsNode(pid);
  const lines = (): LogLine[] => spawned.logs();

  const rbuddy: RbuddyUnderTest = {
    pid,
    resp,
    httpUrl,
    events: () => lines().flatMap(loggedEvent),
    logged: (text) =>
      lines()
        .filter((line) => typeof line.msg === 'string' && line.msg.includes(text))
        .map((line) => (typeof line.time === 'string' ? Date.parse(line.time) : NaN)),
    logTail: (count = 30) => {
      const stderr = spawned.stderr().slice(-4_000);
      return [
        ...lines()
          .slice(-count)
          .map((line) => JSON.stringify(line)),
        ...(stderr === '' ? [] : [stderr]),
      ].join('\n');
    },
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
  event?: { type?: EventType; timestamp?: string; epoch?: number; data?: { reason?: unknown } };
}

/** The event a log line announces (`event <type>` lines carry the whole event), if any. */
function loggedEvent(line: LogLine): LoggedEvent[] {
  const event = line.event;
  if (typeof line.msg !== 'string' || !line.msg.startsWith('event ') || event?.type === undefined) {
    return [];
  }
  const reason = event.data?.reason;
  return [
    {
      type: event.type,
      at: Date.parse(event.timestamp ?? ''),
      epoch: event.epoch ?? NaN,
      reason: typeof reason === 'string' ? reason : undefined,
    },
  ];
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
 * when the replica's first ACK after it arrived (the engine's "synced" needs both: docs/design.md,
 * "Roles and states", step 5). ACKs come about once a second, so a 50 ms poll sees the first one
 * before the next.
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
