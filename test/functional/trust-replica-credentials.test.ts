// --replica-credentials: each replica has a user of its own on rbuddy's listener (its
// masteruser/masterauth). A replica with credentials is recognised only on a connection that
// AUTHed as its own user — and still confirmed by the node — and that user can claim no other
// replica. The real replicas sync with their own users; strangers, with no AUTH or another
// replica's user, are refused before anything reaches the master.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync } from '../../harness/replication.js';
import { explainTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('per-replica credentials bind a connection to its replica', async () => {
  const [master, a, b] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active', args: { masteruser: 'rep-a', masterauth: 'secret-a' } }),
    startRedis({ name: 'standby', args: { masteruser: 'rep-b', masterauth: 'secret-b' } }),
  ]);
  await master.client().set('k', 'v');
  const rbuddy = await startRbuddy({
    master: master.address,
    active: a.address,
    standby: b.address,
    env: {
      RBUDDY_REPLICA_CREDENTIALS: `rep-a:secret-a@${a.address},rep-b:secret-b@${b.address}`,
    },
  });
  const explain = (): string => explainTopology(rbuddy, [master, a, b]);
  await waitFor(() => rbuddy.status().state === 'healthy', { what: 'healthy', explain });
  await waitForInSync(master.client(), a.client());
  const session = rbuddy.status().sessions.find((s) => s.replica === a.address);
  assert.equal(session?.phase, 'streaming', 'the active synced with its own user');
  const stats = await masterStats(master.client());

  const claim = async (auth: string[] | undefined, port: number): Promise<unknown> => {
    const client = await RawClient.connect(rbuddy.resp.host, rbuddy.resp.port);
    try {
      if (auth !== undefined) {
        const reply = await client.command('AUTH', ...auth);
        if (reply instanceof Error) return reply;
      }
      await client.command('REPLCONF', 'listening-port', String(port));
      return await client.command('PSYNC', '?', '-1');
    } finally {
      client.close();
    }
  };
  const noAuth = await claim(undefined, a.port);
  assert.ok(noAuth instanceof Error);
  assert.match(noAuth.message, /must authenticate as its own replica user/);
  const otherUser = await claim(['rep-b', 'secret-b'], a.port);
  assert.ok(otherUser instanceof Error);
  assert.match(otherUser.message, /authenticated as replica user "rep-b"/);
  const wrongPassword = await claim(['rep-a', 'nope'], a.port);
  assert.ok(wrongPassword instanceof Error);
  assert.match(wrongPassword.message, /^WRONGPASS/);

  assert.equal((await masterStats(master.client())).syncFull, stats.syncFull, 'no fork');
  assert.equal(
    rbuddy.status().sessions.find((s) => s.replica === a.address)?.id,
    session?.id,
    'the active session was never replaced',
  );
  const logs = JSON.stringify(rbuddy.logs());
  assert.ok(!logs.includes('secret-a') && !logs.includes('secret-b'), 'no secret in the logs');
});
