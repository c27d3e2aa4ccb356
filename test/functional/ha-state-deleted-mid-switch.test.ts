// The group's state deleted from etcd during a switch's drain, and its leader gone at once (killed,
// its lease revoked): an operator's `etcdctl del` at the wrong moment, then a crash. Two rbuddy CLI
// processes on a real 3-member etcd cluster, real redis-servers. Before, the new leader read the
// nodes mid-switch, found both serving reads and refused to guess: every instance named no node
// for as long as nobody flushed one by hand. Now the follower keeps the last state a leader wrote
// before the key went missing, and as the new leader writes it back and finishes the switch: the
// incoming node is the active, the outgoing one flushed once, and no node with the data was
// flushed otherwise.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitForInSync } from '../../harness/replication.js';
import { flushallCalls, startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

let cluster: EtcdCluster;
let etcd: Etcd3;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
  etcd = new Etcd3({ hosts: [...cluster.clientUrls] });
});

after(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  etcd.close();
  await cluster.close();
});

test('state deleted during the drain, the leader gone: the new leader writes back the last state a leader wrote and finishes the switch', async () => {
  const rig = await startHaRig(cluster, { drainMs: 8000 });
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch ?? 0;
  const outgoing = rig.active;
  const incoming = rig.standby;
  const outgoingFlushes = await flushallCalls(outgoing.client());
  const incomingFlushes = await flushallCalls(incoming.client());

  await requestPlannedSwitch(leader.httpUrl, TOKEN);
  await rig.waitFor(follower, 'the follower to see the switch (draining)', (s) => {
    return s.epoch === epoch + 1 && s.active === incoming.address;
  });
  const leaderKey = (await etcd.get(rig.keys.leader).exec()).kvs[0];
  assert.ok(leaderKey !== undefined);
  // The leader dies first: alive, it writes the deleted state back itself when it sees the delete
  // before its lease goes (a race the fresh-clone CI lost once), and nothing here is tested.
  await rig.kill9(leader);
  await etcd.delete().key(rig.keys.state);
  await etcd.leaseClient.leaseRevoke({ ID: leaderKey.lease });

  const done = await rig.waitFor(follower, 'the follower to lead and finish the switch', (s) => {
    return s.leader === true && s.state === 'healthy' && s.failover === null;
  });
  assert.equal(done.active, incoming.address);
  assert.equal(done.epoch, epoch + 1);
  assert.ok(
    follower
      .logs()
      .some((line) =>
        /^the group's state in etcd is missing during a failover/.test(String(line.msg)),
      ),
    'the write-back is logged',
  );
  await waitForInSync(rig.master.client(), incoming.client());
  assert.equal(await flushallCalls(outgoing.client()), outgoingFlushes + 1, 'the outgoing, once');
  assert.equal(await flushallCalls(incoming.client()), incomingFlushes, 'never the new active');
});
