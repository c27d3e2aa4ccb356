// An operator points the active at a follower by hand (docs/ha.md, "Which replicas are
// repointed": `REPLICAOF <announce of any instance>`), two instances on a real etcd cluster and
// real redis-servers. The follower relays nothing (it holds the active's sync if it is reached);
// the leader, which took the group over long before, sees the active follow another instance of
// the group and points it back at itself, fenced, as at a takeover. The active continues through
// it with +CONTINUE (the master's sync_full unchanged), the leader is healthy again, and a reader
// that follows GET /active on the leader fails no read throughout.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { followsPort, startHaRig, type HaRig } from '../helpers/ha-rig.js';

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

test('the active pointed at a follower by hand: the leader points it back at itself, +CONTINUE, 0 failed reads', async () => {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const master = rig.master.client();
  const active = rig.active.client();
  const before = await masterStats(master);
  const reader = startReader({ httpUrl: leader.httpUrl, key: 'ha:key', expected: 'value' });
  await waitFor(() => reader.ok >= 20, { what: 'reads before the REPLICAOF' });
  const continued = (): number =>
    leader
      .logs()
      .filter((l) => l.msg === 'master answered CONTINUE' && l.replica === rig.active.address)
      .length;
  const continuedBefore = continued();

  await active.call('REPLICAOF', '127.0.0.1', String(follower.resp.port));
  // The follower answers the active's PSYNC -NOMASTERLINK if the active reaches it at all: a
  // replica dials its new master from its once-a-second cron, and the leader may repoint it first.
  await waitFor(() => followsPort(active, leader.resp.port), {
    what: 'the active pointed back at the leader, its link up',
    timeoutMs: 60_000,
  });
  await master.set('ha:after', 'x');
  await waitForInSync(master, active);
  const after = await masterStats(master);
  assert.equal(after.syncFull, before.syncFull, 'no full sync: the active continued');
  assert.ok(after.syncPartialOk > before.syncPartialOk, 'the active PSYNCed: +CONTINUE');
  assert.ok(continued() > continuedBefore, 'the leader relayed +CONTINUE to the active');
  assert.ok(
    leader
      .logs()
      .some(
        (l) =>
          l.msg === 'replicas following another instance of the group told REPLICAOF this one' &&
          Array.isArray(l.repointed) &&
          l.repointed.includes(rig.active.address),
      ),
    'the leader says it repointed the active',
  );
  const led = await rig.waitFor(leader, 'the leader healthy again', (s) => s.state === 'healthy');
  assert.equal(led.leader, true);
  assert.equal(led.takeovers, 1, 'no new term: the leader repoints it while it leads');
  assert.equal((await rig.status(follower)).sessions.length, 0, 'the follower relayed nothing');
  const reads = reader.ok;
  await waitFor(() => reader.ok >= reads + 20, { what: 'reads after the repoint' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.deepEqual(result.actives, [`redis://${rig.active.address}/`]);
});
