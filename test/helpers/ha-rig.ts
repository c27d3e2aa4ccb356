// Two rbuddy CLI processes of one group on a real etcd cluster (harness/etcd-cluster.ts), with a
// master, an active and a standby (real redis-servers), for the functional tests of docs/ha.md:
// which instance leads, each one's status, a kill -9 of one, and the checks every takeover test
// makes (FLUSHALL counts, the statuses explained when a wait times out).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { AppStatus } from '../../src/app.js';
import type { EtcdCluster } from '../../harness/etcd-cluster.js';
import { freePort, killHard, terminate } from '../../harness/processes.js';
import {
  cliArgs,
  isWarning,
  spawnRbuddy,
  type RbuddyProcess,
} from '../../harness/rbuddy-process.js';
import { startRedis, type RedisArgs, type RedisServer } from '../../harness/redis-server.js';
import { info, populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { groupKeys, type GroupKeys } from '../../src/ha/keys.js';
import { failoverTimings } from './topology.js';

export const TOKEN = 'ha-t0ken';
/** Short, so that a takeover after a kill -9 is quick (etcd counts leases in whole seconds). */
export const LEASE_MS = 3000;

export interface HaRig {
  master: RedisServer;
  active: RedisServer;
  standby: RedisServer;
  /** The group's keys in etcd (its own prefix per rig). */
  keys: GroupKeys;
  /** The live instances. */
  instances: RbuddyProcess[];
  /** The group's etcd prefix (`--etcd-prefix`): its keys are under `<prefix>/rbuddy/`. */
  prefix: string;
  /**
   * Starts one more instance on the rig's etcd prefix, with other flags if told (configuration
   * drift): another master or nodes (addresses), another --group. Not waited for.
   */
  spawn(overrides?: InstanceOverrides): Promise<RbuddyProcess>;
  status(rbuddy: RbuddyProcess): Promise<AppStatus>;
  /** Waits until `check` holds for `rbuddy`'s status. */
  waitFor(
    rbuddy: RbuddyProcess,
    what: string,
    check: (status: AppStatus) => boolean,
  ): Promise<AppStatus>;
  /** The instance that leads (waits for one), and the other. */
  leader(): Promise<{ leader: RbuddyProcess; follower: RbuddyProcess }>;
  kill9(rbuddy: RbuddyProcess): Promise<void>;
  close(): Promise<void>;
}

/** What an extra instance is given instead of the rig's own flags. */
export interface InstanceOverrides {
  master?: string;
  active?: string;
  standby?: string;
  group?: string;
  /** --etcd-lease-ms for this instance alone. */
  leaseMs?: number;
  /** Its --announce (default: its --listen address). */
  announce?: string;
  /** Its --listen (default: 127.0.0.1 on a free port; `none` with a TLS listener in `extra`). */
  listen?: string;
  /** More arguments for this instance alone. */
  extra?: readonly string[];
}

let prefixes = 0;

export async function startHaRig(
  cluster: EtcdCluster,
  options: {
    drainMs?: number;
    masterArgs?: RedisArgs;
    megabytes?: number;
    /** More arguments for both instances. */
    extra?: readonly string[];
    /** Each instance's etcd endpoints (default: the members' own client URLs). */
    etcdUrls?: readonly (readonly string[])[];
    /**
     * How many instances start with the rig (default 2); 1: it leads alone; 0: none (the test
     * spawns them, in the order it needs, and waits for what it needs).
     */
    instances?: 0 | 1 | 2;
    /** --etcd-lease-ms (default LEASE_MS). */
    leaseMs?: number;
    /**
     * The replicas' own loopback address (default 127.0.0.1): they listen and connect from it,
     * and the instances are given it, so that they are told from the instances' own connections
     * (a replica's address gets places past --max-clients that a stranger's does not).
     */
    replicaHost?: string;
  } = {},
): Promise<HaRig> {
  const host = options.replicaHost;
  const replicaArgs: RedisArgs =
    host === undefined ? {} : { bind: `127.0.0.1 ${host}`, 'bind-source-addr': host };
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master', args: options.masterArgs ?? {} }),
    startRedis({ name: 'active', args: replicaArgs }),
    startRedis({ name: 'standby', args: replicaArgs }),
  ]);
  const given = (node: RedisServer): string =>
    host === undefined ? node.address : `${host}:${node.port}`;
  await populate(master.client(), { megabytes: options.megabytes ?? 1 });
  await master.client().set('ha:key', 'value');
  const dirs: string[] = [];
  prefixes += 1;
  const prefix = `/ha-${process.pid}-${prefixes}`;
  const spawn = async (
    index: number,
    overrides: InstanceOverrides = {},
  ): Promise<RbuddyProcess> => {
    const urls = options.etcdUrls?.[index] ?? cluster.clientUrls;
    const dir = mkdtempSync(join(tmpdir(), 'rbuddy-ha-'));
    dirs.push(dir);
    const port = await freePort();
    const extra = [
      ...['--etcd', urls.join(',')],
      ...['--etcd-lease-ms', String(overrides.leaseMs ?? options.leaseMs ?? LEASE_MS)],
      ...['--etcd-prefix', prefix, '--http-token', TOKEN, '--log-level', 'debug'],
      ...failoverTimings({ drainMs: options.drainMs ?? 1000 }),
      ...(options.extra ?? []),
      ...(overrides.group === undefined ? [] : ['--group', overrides.group]),
      ...(overrides.announce === undefined ? [] : ['--announce', overrides.announce]),
      ...(overrides.extra ?? []),
    ];
    const servers = {
      master: { address: overrides.master ?? master.address },
      active: { address: overrides.active ?? given(active) },
      standby: { address: overrides.standby ?? given(standby) },
    };
    const listen = overrides.listen ?? `127.0.0.1:${port}`;
    return spawnRbuddy(cliArgs(servers, { listen, stateDir: dir, extra }));
  };
  const count = options.instances ?? 2;
  const instances: RbuddyProcess[] = [];
  if (count >= 1) instances.push(await spawn(0));
  if (count === 2) instances.push(await spawn(1));
  const status = async (rbuddy: RbuddyProcess): Promise<AppStatus> => {
    const response = await fetch(`${rbuddy.httpUrl}/v1/status`, {
      signal: AbortSignal.timeout(2_000),
    });
    return (await response.json()) as AppStatus;
  };
  const explain = async (): Promise<string> => {
    const lines: string[] = [];
    for (const rbuddy of instances) {
      const seen = await status(rbuddy).catch((error: unknown) => String(error));
      lines.push(`instance ${rbuddy.resp.port}: ${JSON.stringify(seen)}`);
      const logs = rbuddy.logs().filter(isWarning);
      lines.push(...logs.slice(-10).map((line) => JSON.stringify(line)));
    }
    for (const server of [master, active, standby]) {
      lines.push(`${server.name} log:\n${server.logTail(10)}`);
    }
    return lines.join('\n');
  };
  const rig: HaRig = {
    master,
    active,
    standby,
    keys: groupKeys(prefix, 'rbuddy'),
    instances,
    prefix,
    async spawn(overrides) {
      const rbuddy = await spawn(instances.length, overrides);
      instances.push(rbuddy);
      return rbuddy;
    },
    status,
    waitFor: (rbuddy, what, check) =>
      waitFor(
        async () => {
          const seen = await status(rbuddy).catch(() => undefined);
          return seen !== undefined && check(seen) ? seen : undefined;
        },
        { what, timeoutMs: 90_000, explain },
      ),
    async leader() {
      return waitFor(
        async () => {
          for (const rbuddy of instances) {
            const seen = await status(rbuddy).catch(() => undefined);
            const other = instances.find((candidate) => candidate !== rbuddy);
            if (seen?.leader === true && other !== undefined)
              return { leader: rbuddy, follower: other };
          }
          return undefined;
        },
        { what: 'an instance to lead', timeoutMs: 60_000, explain },
      );
    },
    async kill9(rbuddy) {
      await killHard(rbuddy.child);
      instances.splice(instances.indexOf(rbuddy), 1);
    },
    async close() {
      await Promise.all(instances.map((rbuddy) => terminate(rbuddy.child)));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
  if (count === 0) return rig;
  const [alone] = instances;
  if (instances.length === 1 && alone !== undefined) {
    await rig.waitFor(
      alone,
      'the instance to lead, healthy',
      (s) => s.leader === true && s.state === 'healthy',
    );
    await waitForInSync(master.client(), active.client());
    return rig;
  }
  const { leader, follower } = await rig.leader();
  await rig.waitFor(leader, 'the leader healthy', (s) => s.state === 'healthy');
  await waitForInSync(master.client(), active.client());
  await rig.waitFor(follower, 'the follower healthy', (s) => s.state === 'healthy');
  return rig;
}

/** How many times FLUSHALL ran on a node (INFO commandstats; refused calls are not counted). */
export async function flushallCalls(client: Redis): Promise<number> {
  const line = (await info(client, 'commandstats'))['cmdstat_flushall'];
  if (line === undefined) return 0;
  const match = /(?:^|,)calls=(\d+)/.exec(line);
  return Number(match?.[1] ?? NaN);
}

/** The replica's master port and link, from INFO replication. */
export async function followsPort(client: Redis, port: number): Promise<boolean> {
  const replication = await info(client, 'replication');
  return replication.master_port === String(port) && replication.master_link_status === 'up';
}

/** `held` with the standby verified (the operator's confirm would be taken). */
export function heldVerified(status: AppStatus): boolean {
  return status.state === 'held' && !/confirm is refused/.test(status.reason ?? '');
}

/**
 * One instance leading alone, its failover held for an operator: the master (diskless, no RDB)
 * killed and restarted empty, the active promoted, the standby synced empty and verified.
 */
export async function startHeldRig(
  cluster: EtcdCluster,
): Promise<{ rig: HaRig; leader: RbuddyProcess; held: AppStatus }> {
  const rig = await startHaRig(cluster, {
    instances: 1,
    masterArgs: { 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
    extra: ['--guard-empty', 'hold'],
  });
  const [leader] = rig.instances;
  if (leader === undefined) throw new Error('the rig started no instance');
  await rig.master.kill9();
  await rig.master.restart();
  const held = await rig.waitFor(leader, 'held, the standby verified', heldVerified);
  return { rig, leader, held };
}
