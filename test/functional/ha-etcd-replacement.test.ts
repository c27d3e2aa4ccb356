// An instance started after the group's only instance died (docs/ha.md, "Which replicas are
// repointed"), on a real 3-member etcd cluster with real redis-servers and the CLI: it never saw
// the dead leader registered, yet it finds its --announce among the group's past leaders in etcd
// and, nothing answering there, points the active at itself — the active continues with
// +CONTINUE (the master's sync_full unchanged) and a reader of the active fails no read. Where a
// plain Redis master answers at that address instead, the new leader leaves the replica alone and
// reports it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { portIsFree } from '../../harness/processes.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { sentinelId } from '../../src/discovery/sentinel-commands.js';
import { checkAddress } from '../../src/ha/address-check.js';
import { flushallCalls, followsPort, startHaRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
let direct: Etcd3;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
  direct = new Etcd3({ hosts: [...cluster.clientUrls] });
});

after(async () => {
  await stopAllReaders();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  direct.close();
  await cluster.close();
});

/** Kills the rig's only instance and waits until etcd holds nothing of it on a lease. */
async function killAlone(rig: HaRig): Promise<RbuddyProcess> {
  const [alone] = rig.instances;
  assert.ok(alone !== undefined && rig.instances.length === 1);
  await rig.kill9(alone);
  const root = `${rig.prefix}/rbuddy/`;
  await waitFor(
    async () => {
      const keys = await direct.getAll().prefix(root).keys();
      return keys.every((key) => !key.startsWith(`${root}members/`) && key !== `${root}leader`);
    },
    { what: "the dead instance's lease expired (no member key, no leader key)", timeoutMs: 30_000 },
  );
  return alone;
}

test('a replacement that never saw the dead leader takes the active over (+CONTINUE, 0 failed reads)', async () => {
  const rig = await startHaRig(cluster, { instances: 1 });
  rigs.push(rig);
  const [a] = rig.instances;
  assert.ok(a !== undefined);
  await waitFor(() => followsPort(rig.active.client(), a.resp.port), {
    what: 'the active streaming through A',
    timeoutMs: 30_000,
  });
  const master = rig.master.client();
  const before = await masterStats(master);
  const reader = startReader({
    httpUrl: a.httpUrl,
    key: 'ha:key',
    expected: 'value',
    active: () => Promise.resolve(`redis://${rig.active.address}/`),
  });
  await waitFor(() => reader.ok >= 20, { what: 'reads before the kill' });

  await killAlone(rig);
  await master.set('ha:while-no-instance', 'yes');
  const b = await rig.spawn();
  const led = await rig.waitFor(
    b,
    'B to lead, healthy',
    (s) => s.leader === true && s.state === 'healthy',
  );
  assert.deepEqual(led.peers, [], 'B never saw A registered');
  await waitFor(() => followsPort(rig.active.client(), b.resp.port), {
    what: 'the active streaming through B',
    timeoutMs: 30_000,
  });
  await waitForInSync(master, rig.active.client());
  assert.equal(await rig.active.client().get('ha:while-no-instance'), 'yes');
  const after = await masterStats(master);
  assert.equal(after.syncFull, before.syncFull, 'no full sync');
  assert.ok(after.syncPartialOk > before.syncPartialOk, 'the active PSYNCed: +CONTINUE');
  assert.ok(
    b.logs().some((l) => l.msg === 'master answered CONTINUE' && l.replica === rig.active.address),
    'B relayed +CONTINUE to the active',
  );
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the takeover' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.equal(await flushallCalls(rig.active.client()), 0);
  assert.equal(await flushallCalls(rig.standby.client()), 0);
  // Both are remembered now, oldest first: a third instance could take over from either.
  const remembered = await direct.get(`${rig.prefix}/rbuddy/past-leaders`).json();
  assert.deepEqual(remembered, [`127.0.0.1:${a.resp.port}`, `127.0.0.1:${b.resp.port}`]);
  // What a later leader would make of each address: B (live) is an instance of the group, A
  // (dead) is gone, the master is no instance.
  const check = (address: string) =>
    checkAddress(address, {
      expectedId: sentinelId('rbuddy', address),
      password: '',
      connectTimeoutMs: 2000,
      commandTimeoutMs: 2000,
    });
  assert.deepEqual(await check(`127.0.0.1:${b.resp.port}`), { kind: 'instance' });
  assert.equal((await check(`127.0.0.1:${a.resp.port}`)).kind, 'gone');
  assert.equal((await check(rig.master.address)).kind, 'foreign');
});

test('a past leader whose address a plain Redis master now answers: the replica is left alone, reported', async () => {
  const rig = await startHaRig(cluster, { instances: 1 });
  rigs.push(rig);
  const a = await killAlone(rig);
  // Someone else's master on A's old address: the active follows it (and fully syncs from it).
  await waitFor(() => portIsFree(a.resp.port), { what: "A's port free", timeoutMs: 30_000 });
  const foreign = await startRedis({ name: 'foreign', port: a.resp.port });
  await foreign.client().set('foreign:key', 'theirs');
  await waitFor(() => followsPort(rig.active.client(), foreign.port), {
    what: 'the active following the foreign master',
    timeoutMs: 30_000,
  });
  const b = await rig.spawn();
  const led = await rig.waitFor(
    b,
    'B to lead, degraded: the active follows another master',
    (s) => s.leader === true && s.state === 'degraded' && /another master/.test(s.reason ?? ''),
  );
  assert.match(led.reason ?? '', /active .* replicates from another master/);
  const why = await waitFor(
    () =>
      b
        .logs()
        .find(
          (l) => typeof l.msg === 'string' && l.msg.startsWith('takeover: not repointing') === true,
        ),
    { what: 'B saying why it leaves the active alone', timeoutMs: 30_000 },
  );
  assert.equal(why.master, `127.0.0.1:${a.resp.port}`);
  assert.match(String(why.why), /not an instance of this group/);
  const replication = await info(rig.active.client(), 'replication');
  assert.equal(replication.master_port, String(foreign.port), 'the active still follows it');
  assert.equal(await flushallCalls(rig.active.client()), 0);
});
