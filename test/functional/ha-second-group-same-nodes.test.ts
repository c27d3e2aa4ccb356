// An rbuddy of another --group started on a group's nodes (docs/ha.md, "`--group` and
// `--etcd-prefix`"): the group's leader A leads, healthy; B, given the same master, nodes and etcd
// but another --group (a typo), leads its own empty group and, with no state, refuses the active
// that serves through A. Then the master is killed (kill -9): A promotes the active (write
// guard, data) and attaches the standby, which stays a replica of A's announce, its link down
// while A holds its sync and between its attempts. B, still with no state, must not take that
// promoted active and "its" standby for a lost state of its own: before the fix it adopted them
// and held the standby every round while A attached it, the standby never synced and A's failover
// stalled. Now B stays degraded naming the address the standby follows, never sends a node a
// command (no 'failover action' in its log, the nodes never follow B), and A completes the
// failover when the master is back: the standby syncs through A and becomes the active, with 0
// failed reads for a reader following GET /active on A.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info, waitForInSync } from '../../harness/replication.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { waitFor } from '../../harness/wait-for.js';
import { startHaRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await stopAllReaders();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
});

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What B did to a node: the engine logs each action it takes ('failover action'). */
function actionsOf(rbuddy: RbuddyProcess): Array<Record<string, unknown>> {
  return rbuddy
    .logs()
    .filter((line) => line.msg === 'failover action' || /adopted the roles/.test(String(line.msg)));
}

/**
 * Samples whom each node follows until stopped: every `host:port` a node was seen replicating
 * from (so that a REPLICAOF of B's, even one A undid at once, is likely seen).
 */
function watchMasters(nodes: readonly RedisServer[]): { stop(): Promise<Set<string>> } {
  const seen = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const node of nodes) {
        const replication = await info(node.client(), 'replication').catch(() => undefined);
        if (replication?.role === 'slave') {
          seen.add(`${replication.master_host}:${replication.master_port}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return seen;
    },
  };
}

test("an rbuddy of another --group on the group's nodes takes nothing when the leader fails over", async () => {
  const rig = await startHaRig(cluster, {
    instances: 1,
    masterArgs: { 'repl-diskless-sync': 'no' },
  });
  rigs.push(rig);
  const [a] = rig.instances;
  if (a === undefined) throw new Error('the rig started no instance');
  const aAnnounce = `127.0.0.1:${a.resp.port}`;
  const epoch = (await rig.status(a)).epoch ?? -1;
  const reader = startReader({ httpUrl: a.httpUrl, key: 'ha:key', expected: 'value' });
  await waitFor(() => reader.ok >= 20, { what: 'reads before the second group' });

  const b = await rig.spawn({ group: 'other-group' });
  const bAnnounce = `127.0.0.1:${b.resp.port}`;
  const masters = watchMasters([rig.active, rig.standby]);
  // With no state of its own, B leads its own group and refuses the active serving through A.
  await rig.waitFor(
    b,
    'B to refuse the active that serves through A',
    (s) =>
      s.leader === true &&
      s.state === 'degraded' &&
      new RegExp(
        `node ${escaped(rig.active.address)} holds \\d+ keys and replicates from ${escaped(aAnnounce)}, not from this rbuddy's announce address`,
      ).test(s.reason ?? ''),
  );

  await rig.master.client().save();
  await rig.master.kill9();
  // A promotes the active and attaches the standby; B sees a promoted master and a standby that
  // follows A — and refuses it (or, before the fix, adopted them: its log says so at once).
  await rig.waitFor(a, 'A to promote the active and attach the standby', (s) => {
    return s.failover?.step === 'syncing';
  });
  const standbyRefused = new RegExp(
    `no state file, and node ${escaped(rig.standby.address)} (replicates|is syncing) from ${escaped(aAnnounce)} \\(link (up|down)\\), not from this rbuddy's announce address: another rbuddy`,
  );
  const seenByB = await waitFor(
    async () => {
      if (actionsOf(b).length > 0) return { adopted: true, reason: '' };
      const status = await rig.status(b);
      return status.state === 'degraded' && standbyRefused.test(status.reason ?? '')
        ? { adopted: false, reason: status.reason ?? '' }
        : undefined;
    },
    { what: "B to decide on A's promoted active and held standby", timeoutMs: 60_000 },
  );
  assert.equal(seenByB.adopted, false, `B acted: ${JSON.stringify(actionsOf(b))}`);

  await rig.master.restart();
  const done = await rig.waitFor(
    a,
    "A's failover complete: the standby synced through A is the active",
    (s) => s.leader === true && s.state === 'healthy' && s.epoch === epoch + 1,
  );
  assert.equal(done.active, rig.standby.address);
  assert.equal(done.standby, rig.active.address);
  await waitForInSync(rig.master.client(), rig.standby.client());
  const readsAtSwitch = reader.ok;
  await waitFor(() => reader.ok >= readsAtSwitch + 20, { what: 'reads after the switch' });
  const read = await reader.stop();
  assert.equal(read.failed, 0, `failed reads: ${read.errors.join('; ')}`);

  const followed = await masters.stop();
  assert.ok(!followed.has(bAnnounce), `a node followed B: ${[...followed].join(', ')}`);
  assert.ok(followed.has(aAnnounce));
  assert.deepEqual(actionsOf(b), [], 'B took no action on any node');
  const replication = await info(rig.standby.client(), 'replication');
  assert.equal(`${replication.master_host}:${replication.master_port}`, aAnnounce);
  // B still leaves the nodes alone: the new active serves through A.
  const other = await rig.status(b);
  assert.equal(other.state, 'degraded', other.reason ?? '');
  assert.match(other.reason ?? '', /not from this rbuddy's announce address/);
});
