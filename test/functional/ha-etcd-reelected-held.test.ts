// A leader deposed and elected again keeps its relay sessions, and its new term's engine must see
// them stream (src/standby/observe.ts): one rbuddy on a real etcd cluster and real redis-servers,
// a failover held for an operator (the master came back empty), then the leader's lease revoked
// behind its back (as etcd 3.4.23 does to every lease when its hung raft leader resumes: docs/ha.md,
// "Failure modes"). The instance is elected again; the standby's session, begun in the first
// term, goes on streaming; the new term verifies the standby from its ACKs and accepts the
// operator's confirm.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { heldVerified, startHeldRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
let direct: Etcd3;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
  direct = new Etcd3({ hosts: [...cluster.clientUrls] });
});

after(async () => {
  direct.close();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
});

test("the leader's lease revoked while a failover is held: elected again, its new term verifies the standby and takes the confirm", async () => {
  const { rig, leader, held } = await startHeldRig(cluster);
  rigs.push(rig);
  const session = held.sessions.find((s) => s.replica === rig.standby.address);
  assert.equal(session?.phase, 'streaming');

  const leaderKey = await direct.get(rig.keys.leader).exec();
  const lease = leaderKey.kvs[0]?.lease;
  assert.ok(lease !== undefined && lease !== '0');
  await direct.leaseClient.leaseRevoke({ ID: lease });
  await rig.waitFor(
    leader,
    'elected again (a new term)',
    (s) => s.leader === true && s.takeovers === (held.takeovers ?? 0) + 1,
  );
  const again = await rig.waitFor(
    leader,
    'the new term holding, the standby verified',
    heldVerified,
  );
  assert.equal(
    again.sessions.find((s) => s.replica === rig.standby.address)?.id,
    session?.id,
    "the standby's session is the one begun in the first term",
  );
  assert.equal(again.failover?.id, held.failover?.id);

  const confirmed = await fetch(`${leader.httpUrl}/v1/failover/confirm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(confirmed.status, 202, await confirmed.text());
  await rig.waitFor(
    leader,
    'switched to the standby',
    (s) => s.active === rig.standby.address && s.epoch === (held.epoch ?? 0) + 1,
  );
});
