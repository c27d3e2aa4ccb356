// A first start never takes over a replica that serves reads from elsewhere (docs/design.md,
// "Restart and reconciliation"). A group runs on etcd, its active serving the group's data through
// the group's leader. Another rbuddy is then started on the same two nodes with no state of its
// own — an instance of another --group on the same etcd, or a single rbuddy on its own state dir
// — and given a second master holding another dataset, so that a full sync would show: had it
// taken the active for a blank node and told it REPLICAOF itself, the active's PSYNC would have
// reached the second master, been answered +FULLRESYNC and emptied the active. Instead it stays
// `degraded` naming the active and whom it replicates from; no REPLICAOF or FLUSHALL reaches a
// node, the second master serves no sync, the active keeps its data and its master, and the
// group it belongs to stays healthy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { AppStatus } from '../../src/app.js';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { terminate } from '../../harness/processes.js';
import {
  cliArgs,
  cliStatus,
  isWarning,
  spawnRbuddy,
  type RbuddyProcess,
} from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info, masterStats, populate } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { heldVerified, startHaRig, startHeldRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];
const spawned: RbuddyProcess[] = [];
const dirs: string[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await Promise.all(spawned.map((rbuddy) => terminate(rbuddy.child)));
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** What would take a node over or empty it. */
const TAKEOVER = ['replicaof', 'slaveof', 'flushall', 'flushdb'];

async function takeoverCalls(client: Redis): Promise<Record<string, string | undefined>> {
  const stats = await info(client, 'commandstats');
  return Object.fromEntries(TAKEOVER.map((command) => [command, stats[`cmdstat_${command}`]]));
}

/** Keys in every db, as INFO keyspace counts them (and rbuddy reports them). */
async function totalKeys(client: Redis): Promise<number> {
  const keyspace = await info(client, 'keyspace');
  return Object.entries(keyspace)
    .filter(([name]) => /^db\d+$/.test(name))
    .reduce((sum, [, value]) => sum + Number(/keys=(\d+)/.exec(value)?.[1] ?? 0), 0);
}

/** A second master holding another dataset under the group's key. */
async function otherMaster(): Promise<RedisServer> {
  const other = await startRedis({ name: 'other-master' });
  await populate(other.client(), { megabytes: 1 });
  await other.client().set('ha:key', 'OTHER-DATASET');
  return other;
}

/**
 * The group healthy; `startOther` starts the other rbuddy on its nodes. Checks that it names the
 * serving active and leaves it alone.
 */
async function servedElsewhere(
  startOther: (rig: HaRig, other: RedisServer) => Promise<RbuddyProcess>,
): Promise<void> {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader } = await rig.leader();
  const other = await otherMaster();
  const nodes = [rig.active, rig.standby];
  const before = await Promise.all(nodes.map((node) => takeoverCalls(node.client())));
  const keys = await totalKeys(rig.active.client());
  const leaderAnnounce = `127.0.0.1:${leader.resp.port}`;
  const activeMaster = async (): Promise<string> => {
    const replication = await info(rig.active.client(), 'replication');
    return `${replication.master_host ?? 'none'}:${replication.master_port ?? 'none'}`;
  };

  const second = await startOther(rig, other);
  spawned.push(second);
  const expected = new RegExp(
    `no state file, and node ${rig.active.address.replace(/\./g, '\\.')} holds ${keys} keys and replicates from ${leaderAnnounce.replace(/\./g, '\\.')}, not from this rbuddy's announce address`,
  );
  // Either it says why it stays off, or the second master served a full sync (to the active it
  // took over: the checks below say so).
  const seen = await waitFor(
    async () => {
      const status: AppStatus = await cliStatus(second);
      if (status.state === 'degraded' && expected.test(status.reason ?? '')) return status;
      return (await masterStats(other.client())).syncFull > 0 ? status : undefined;
    },
    {
      what: 'the other rbuddy to decide on the serving active',
      timeoutMs: 60_000,
      explain: async () =>
        `other rbuddy: ${JSON.stringify(await cliStatus(second).catch(String))}\n${second
          .logs()
          .filter(isWarning)
          .slice(-10)
          .map((line) => JSON.stringify(line))
          .join('\n')}`,
    },
  );
  assert.equal(
    (await masterStats(other.client())).syncFull,
    0,
    'no full sync from the other master',
  );
  assert.equal(await activeMaster(), leaderAnnounce, 'the active still follows the group');
  for (const [index, node] of nodes.entries()) {
    assert.deepEqual(
      await takeoverCalls(node.client()),
      before[index],
      `nothing sent to ${node.name}`,
    );
  }
  assert.equal(await totalKeys(rig.active.client()), keys);
  assert.equal(await rig.active.client().get('ha:key'), 'value');
  assert.equal(seen.state, 'degraded', seen.reason ?? '');
  assert.match(seen.reason ?? '', /point it at this rbuddy's --announce \(REPLICAOF\)/i);
  const group = await rig.status(leader);
  assert.equal(group.state, 'healthy', group.reason ?? '');
  assert.equal(group.leader, true);
}

test('an instance of another --group on the same nodes leaves the serving active alone', async () => {
  await servedElsewhere((rig, other) => rig.spawn({ group: 'other-group', master: other.address }));
});

test('a single rbuddy on its own state dir leaves the serving active alone', async () => {
  await servedElsewhere(async (rig, other) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-elsewhere-'));
    dirs.push(stateDir);
    return spawnRbuddy(
      cliArgs(
        { master: other, active: rig.active, standby: rig.standby },
        { listen: '127.0.0.1:0', stateDir, extra: ['--log-level', 'debug'] },
      ),
    );
  });
});

test("an instance of another --group started while the group's failover is held leaves the standby to the group", async () => {
  // The group's leader has promoted the active (write guard, data) and its standby is synced,
  // held for an operator (the master came back empty). The other instance, with no state of its
  // own, would adopt the promoted active and then keep "its" standby idle while the group's
  // leader keeps it synced: a REPLICAOF fight every round, the group's failover stalled.
  const { rig, leader, held } = await startHeldRig(cluster);
  rigs.push(rig);
  const nodes = [rig.active, rig.standby];
  const before = await Promise.all(nodes.map((node) => takeoverCalls(node.client())));
  const leaderAnnounce = `127.0.0.1:${leader.resp.port}`;

  const second = await rig.spawn({ group: 'other-group' });
  const expected = new RegExp(
    `no state file, and node ${rig.standby.address.replace(/\./g, '\\.')} (replicates|is syncing) from ${leaderAnnounce.replace(/\./g, '\\.')} \\(link (up|down)\\), not from this rbuddy's announce address`,
  );
  const changed = async (): Promise<boolean> => {
    const now = await Promise.all(nodes.map((node) => takeoverCalls(node.client())));
    return JSON.stringify(now) !== JSON.stringify(before);
  };
  const seen = await waitFor(
    async () => {
      const status: AppStatus = await cliStatus(second);
      if (status.state === 'degraded' && expected.test(status.reason ?? '')) return status;
      return (await changed()) ? status : undefined;
    },
    {
      what: 'the other instance to decide on the promoted active and the held standby',
      timeoutMs: 60_000,
      explain: async () =>
        `other instance: ${JSON.stringify(await cliStatus(second).catch(String))}\n${second
          .logs()
          .filter(isWarning)
          .slice(-10)
          .map((line) => JSON.stringify(line))
          .join('\n')}`,
    },
  );
  for (const [index, node] of nodes.entries()) {
    assert.deepEqual(
      await takeoverCalls(node.client()),
      before[index],
      `nothing sent to ${node.name}`,
    );
  }
  assert.equal(seen.state, 'degraded', seen.reason ?? '');
  assert.match(seen.reason ?? '', /refusing to take the roles over/);
  const group = await rig.waitFor(
    leader,
    'the group still held, its standby verified',
    heldVerified,
  );
  assert.equal(group.failover?.id, held.failover?.id);
  assert.equal(group.leader, true);
  const replication = await info(rig.standby.client(), 'replication');
  assert.equal(`${replication.master_host}:${replication.master_port}`, leaderAnnounce);
});
