// The rig of the restart tests (docs/design.md, "Restart and reconciliation"): a master, an
// active, a standby and the real rbuddy CLI on a fixed RESP port and state dir, which a test
// kills (kill -9), stops (SIGTERM) and starts again with the same arguments. Every process and
// state dir is ended or removed after the test file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { Redis } from 'ioredis';
import type { AppStatus } from '../../src/app.js';
import { freePort, killHard, portIsFree, terminate } from '../../harness/processes.js';
import { spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import {
  startRedis,
  stopAllRedis,
  type RedisArgs,
  type RedisServer,
} from '../../harness/redis-server.js';
import { info, populate, waitForInSync } from '../../harness/replication.js';
import { failoverTimings } from './topology.js';
import { waitFor } from '../../harness/wait-for.js';

const spawned = new Set<RbuddyProcess>();
const stateDirs: string[] = [];

after(async () => {
  await Promise.all([...spawned].map((rbuddy) => terminate(rbuddy.child)));
  await stopAllRedis();
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

/** Master, active, standby and the rbuddy CLI on a fixed RESP port and state dir. */
export interface Rig {
  master: RedisServer;
  active: RedisServer;
  standby: RedisServer;
  /** The current rbuddy process. */
  rbuddy: RbuddyProcess;
  status(): Promise<AppStatus>;
  waitForStatus(what: string, check: (status: AppStatus) => boolean): Promise<AppStatus>;
  /** kill -9 the rbuddy process. */
  crash(): Promise<void>;
  /** Start rbuddy again with the same arguments: same RESP address, same state dir. */
  restart(): Promise<void>;
  /** SIGTERM: a graceful stop; resolves with the exit code and how long it took. */
  terminate(): Promise<{ code: number | null; ms: number }>;
}

export async function startRig(options: {
  drainMs: number;
  masterArgs?: RedisArgs;
  /** Applied to the master at runtime before rbuddy starts (the args apply after a restart). */
  masterRuntime?: Record<string, string>;
  populate: { megabytes: number; valueBytes?: number };
}): Promise<Rig> {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master', args: options.masterArgs ?? {} }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const control = master.client();
  for (const [setting, value] of Object.entries(options.masterRuntime ?? {})) {
    await control.config('SET', setting, value);
  }
  await populate(control, options.populate);
  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-restart-state-'));
  stateDirs.push(stateDir);
  const args = [
    '--master',
    master.address,
    '--active',
    active.address,
    '--standby',
    standby.address,
    '--listen',
    `127.0.0.1:${port}`,
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    ...failoverTimings({ drainMs: options.drainMs }),
    '--command-timeout-ms',
    '2000',
    '--log-level',
    'debug',
  ];
  const spawn = async (): Promise<RbuddyProcess> => {
    // The replicas follow this exact address; after a kill -9 it must be bindable again first.
    await waitFor(() => portIsFree(port), { what: `port ${port} to be free`, timeoutMs: 30_000 });
    const rbuddy = await spawnRbuddy(args);
    spawned.add(rbuddy);
    assert.equal(rbuddy.resp.port, port);
    return rbuddy;
  };
  const rig: Rig = {
    master,
    active,
    standby,
    rbuddy: await spawn(),
    async status() {
      const response = await fetch(`${rig.rbuddy.httpUrl}/v1/status`, {
        signal: AbortSignal.timeout(2_000),
      });
      return (await response.json()) as AppStatus;
    },
    async waitForStatus(what, check) {
      return waitFor(
        async () => {
          const status = await rig.status();
          return check(status) ? status : undefined;
        },
        {
          what,
          timeoutMs: 120_000,
          explain: async () =>
            [
              `rbuddy status: ${JSON.stringify(await rig.status())}`,
              `rbuddy log (last 15 lines):`,
              ...rig.rbuddy
                .logs()
                .slice(-15)
                .map((line) => JSON.stringify(line)),
              ...[master, active, standby].map((s) => `${s.name} log:\n${s.logTail(15)}`),
            ].join('\n'),
        },
      );
    },
    async crash() {
      await killHard(rig.rbuddy.child);
      spawned.delete(rig.rbuddy);
    },
    async terminate() {
      const started = Date.now();
      rig.rbuddy.child.kill('SIGTERM');
      const code = await rig.rbuddy.exit(30_000);
      spawned.delete(rig.rbuddy);
      return { code, ms: Date.now() - started };
    },
    async restart() {
      rig.rbuddy = await spawn();
    },
  };
  await rig.waitForStatus('rbuddy healthy', (status) => status.state === 'healthy');
  await waitForInSync(control, active.client());
  return rig;
}

/** How many times FLUSHALL ran on a node (INFO commandstats; refused calls are not counted). */
export async function flushallCalls(client: Redis): Promise<number> {
  const line = (await info(client, 'commandstats'))['cmdstat_flushall'];
  if (line === undefined) return 0;
  const match = /(?:^|,)calls=(\d+)/.exec(line);
  return Number(match?.[1] ?? NaN);
}
