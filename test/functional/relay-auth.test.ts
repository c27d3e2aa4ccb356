// AUTH is terminated at the proxy: replicas authenticate with --listen-password (their
// masterauth), the proxy authenticates upstream with --master-password. A wrong password gets
// -WRONGPASS and a log line, and never causes a connection to the master. No secret is logged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, waitForInSync } from '../../harness/replication.js';
import { startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const MASTER_PASSWORD = 'master-s3cret-value';
const LISTEN_PASSWORD = 'listen-s3cret-value';
const WRONG_PASSWORD = 'wrong-s3cret-value';

describe('authentication through the proxy', () => {
  let t: Topology;

  before(async () => {
    t = await startTopology({
      masterArgs: { requirepass: MASTER_PASSWORD },
      rbuddyEnv: {
        RBUDDY_MASTER_PASSWORD: MASTER_PASSWORD,
        RBUDDY_LISTEN_PASSWORD: LISTEN_PASSWORD,
      },
      populate: { megabytes: 5 },
    });
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('a replica whose masterauth is the listen password syncs from a password-protected master', async () => {
    await t.active.client().config('SET', 'masterauth', LISTEN_PASSWORD);
    await t.follow(t.active);
    await waitForInSync(t.master.client(), t.active.client());
  });

  test('a wrong password gets -WRONGPASS and a log line', async () => {
    const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port);
    try {
      const before = await client.command('PING');
      assert.ok(before instanceof Error);
      assert.match(before.message, /^NOAUTH/);
      const reply = await client.command('AUTH', WRONG_PASSWORD);
      assert.ok(reply instanceof Error);
      assert.match(reply.message, /^WRONGPASS/);
      assert.equal(await client.command('AUTH', 'default', LISTEN_PASSWORD), 'OK');
      assert.equal(await client.command('PING'), 'PONG');
    } finally {
      client.close();
    }
    assert.ok(t.rbuddy.logs().some((line) => line.msg === 'AUTH with a wrong password refused'));
  });

  test('a replica with the wrong masterauth never reaches the master', async () => {
    const master = t.master.client();
    const connectionsBefore = Number((await info(master, 'stats')).total_connections_received);
    const refusalsBefore = countRefusals(t);
    await t.standby.client().config('SET', 'masterauth', WRONG_PASSWORD);
    await t.follow(t.standby);
    // The replica retries every second; wait for two refused attempts.
    await waitFor(() => countRefusals(t) >= refusalsBefore + 2, {
      what: 'two refused AUTH attempts from the standby',
    });
    assert.equal(t.session(t.standby), undefined, 'no session for the standby');
    const standbyInfo = await info(t.standby.client(), 'replication');
    assert.equal(standbyInfo.master_link_status, 'down');
    const connectionsAfter = Number((await info(master, 'stats')).total_connections_received);
    // Both INFO calls use the same test connection: any increase is the proxy's doing.
    assert.equal(connectionsAfter, connectionsBefore);
  });

  test('no secret appears in the logs', () => {
    const text = JSON.stringify(t.rbuddy.logs());
    for (const secret of [MASTER_PASSWORD, LISTEN_PASSWORD, WRONG_PASSWORD]) {
      assert.ok(!text.includes(secret), `a secret leaked into the logs`);
    }
  });
});

function countRefusals(t: Topology): number {
  return t.rbuddy.logs().filter((line) => line.msg === 'AUTH with a wrong password refused').length;
}
