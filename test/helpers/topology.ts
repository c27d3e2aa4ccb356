// A master, two replicas and an rbuddy in between, all on ephemeral loopback ports.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { SessionStatus } from '../../src/proxy/session-types.js';
import { isWarning } from '../../harness/rbuddy-process.js';
import { startRbuddy, type RbuddyUnderTest } from './rbuddy.js';
import { startRedis, type RedisServer } from '../../harness/redis-server.js';
import { populate, waitForInSync, type Writer } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';

export interface Topology {
  master: RedisServer;
  active: RedisServer;
  standby: RedisServer;
  rbuddy: RbuddyUnderTest;
  /**
   * `REPLICAOF <proxy>` on a replica (the standby only once rbuddy is past its first start, and
   * then it is held: its sync is refused outside a failover, docs/design.md, "Roles and states").
   */
  follow(replica: RedisServer): Promise<void>;
  /** The proxy's session for a replica, once it exists. */
  session(replica: RedisServer): SessionStatus | undefined;
  waitForPhase(replica: RedisServer, phase: SessionStatus['phase']): Promise<SessionStatus>;
  /** rbuddy `healthy` (past its first start) and the active in sync with the master. */
  waitForHealthy(): Promise<void>;
}

export async function startTopology(
  options: {
    masterArgs?: Record<string, string | number>;
    replicaArgs?: Record<string, string | number>;
    rbuddyArgs?: string[];
    rbuddyEnv?: Record<string, string>;
    /**
     * Data to load into the master before rbuddy starts. rbuddy attaches the active replica at
     * its first start, so data loaded later reaches it by the command stream, not a snapshot.
     */
    populate?: { megabytes: number; dbs?: number[] };
  } = {},
): Promise<Topology> {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master', args: options.masterArgs ?? {} }),
    startRedis({ name: 'active', args: options.replicaArgs ?? {} }),
    startRedis({ name: 'standby', args: options.replicaArgs ?? {} }),
  ]);
  if (options.populate !== undefined) await populate(master.client(), options.populate);
  const rbuddy = await startRbuddy({
    master: master.address,
    active: active.address,
    standby: standby.address,
    args: options.rbuddyArgs ?? [],
    env: options.rbuddyEnv ?? {},
  });
  const waitHealthy = (): Promise<boolean> =>
    waitFor(() => rbuddy.status().state === 'healthy', {
      what: 'rbuddy healthy (past its first start)',
      timeoutMs: 120_000,
      explain: () => explainTopology(rbuddy, [master, active, standby]),
    });
  const session = (replica: RedisServer): SessionStatus | undefined =>
    rbuddy.status().sessions.find((s) => s.replica === replica.address);
  return {
    master,
    active,
    standby,
    rbuddy,
    async follow(replica) {
      if (replica === standby) {
        // Until the active's first sync is done (state `healthy`), rbuddy is on its first start
        // and makes the standby its held idle standby, with its own settings saved first: a
        // standby pointed at the proxy before then would race that. Seen on a loaded CI machine.
        await waitHealthy();
      }
      const client: Redis = replica.client();
      await client.replicaof(rbuddy.resp.host, rbuddy.resp.port);
    },
    session,
    async waitForHealthy() {
      await waitHealthy();
      await waitForInSync(master.client(), active.client());
    },
    waitForPhase: (replica, phase) =>
      waitFor(
        () => {
          const found = session(replica);
          return found?.phase === phase ? found : undefined;
        },
        {
          what: `${replica.name}'s session in phase ${phase}`,
          timeoutMs: 120_000,
          explain: () => explainTopology(rbuddy, [master, active, standby]),
        },
      ),
  };
}

/**
 * The writer stops with no failed write, the active catches up with the master (digests equal),
 * and its session is still the one it had, streaming: the relay was never interrupted.
 */
export async function assertStreamedThroughout(
  t: Topology,
  writer: Writer,
  sessionId: string,
): Promise<void> {
  await writer.stop();
  assert.equal(writer.errors, 0);
  await waitForInSync(t.master.client(), t.active.client());
  const session = t.session(t.active);
  assert.equal(session?.id, sessionId, 'the replica session was never interrupted');
  assert.equal(session?.phase, 'streaming');
}

/**
 * Fast but robust failover timings for tests. The probe timeout stays at 1 s: with several test
 * files sharing two cores, shorter probes time out spuriously and rbuddy (rightly, for its
 * configuration) fails over a live master. A killed master is seen at once anyway, through the
 * active's replication link.
 */
export function failoverTimings(
  options: {
    graceMs?: number;
    drainMs?: number;
    probeIntervalMs?: number;
    probeTimeoutMs?: number;
  } = {},
): string[] {
  return [
    '--grace-ms',
    String(options.graceMs ?? 1000),
    '--drain-ms',
    String(options.drainMs ?? 1000),
    '--probe-interval-ms',
    String(options.probeIntervalMs ?? 200),
    '--probe-timeout-ms',
    String(options.probeTimeoutMs ?? 1000),
  ];
}

/**
 * What a failed wait in a topology prints: the proxy's status, its warnings and errors, and the
 * tail of every server's log (the master's says why it dropped a replica, for instance).
 */
export function explainTopology(rbuddy: RbuddyUnderTest, servers: RedisServer[]): string {
  const { sessions, state, reason } = rbuddy.status();
  const warnings = rbuddy
    .logs()
    .filter(isWarning)
    .slice(-15)
    .map((line) => JSON.stringify(line));
  return [
    `rbuddy: state ${state}${reason === null ? '' : ` (${reason})`}`,
    `sessions: ${JSON.stringify(sessions)}`,
    `rbuddy warnings and errors (last 15):\n${warnings.join('\n')}`,
    ...servers.map((server) => `${server.name} log:\n${server.logTail(15)}`),
  ].join('\n');
}
