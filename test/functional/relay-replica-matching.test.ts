// A replica whose announced address is not the configured one (as behind NAT or in a container)
// is still recognised — rbuddy asks the candidate node itself (ROLE: a replica of the proxy in
// its replication handshake, and no other connection that could be it; docs/design.md,
// "Identity of a replica") — and it syncs.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitForInSync } from '../../harness/replication.js';
import { startTopology } from '../helpers/topology.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('a replica announcing an address rbuddy does not know is matched by asking the node', async () => {
  const t = await startTopology({
    // 127.0.0.2 is not the configured host (127.0.0.1): the address match is ambiguous.
    replicaArgs: { 'replica-announce-ip': '127.0.0.2' },
    populate: { megabytes: 2 },
  });
  await waitForInSync(t.master.client(), t.active.client());
  const session = await t.waitForPhase(t.active, 'streaming');
  assert.equal(session.replica, t.active.address);
  // The node's own word identified it: the announced address alone would not have.
  assert.ok(
    !t.rbuddy.logs().some((line) => line.msg === 'sync refused: not a configured replica'),
    'never refused',
  );
  // The master lists the replica under its announced address, as it would without rbuddy.
  const replicas = (await t.master.client().info('replication')).match(/slave0:ip=([^,]+)/);
  assert.equal(replicas?.[1], '127.0.0.2');
});
