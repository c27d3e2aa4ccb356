// Found by the chaos run (docs/reliability.md, "Chaos", seed 31337): a planned switch made B the
// active; B was killed (kill -9) before the old active A was retired and came back empty. The
// process verified synced was gone, yet once B answered again rbuddy retired A — FLUSHALL of the
// only copy of the data. I2 (docs/design.md): the retire flushes the outgoing active only while
// the new active is still the very process verified synced and still holds the data; otherwise
// the node that holds it is the active again (a new epoch) and B takes a new sync.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { keyCount } from '../../harness/held-standby.js';
import { digest } from '../../harness/replication.js';
import { explainTopology, failoverTimings, startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'new-active-restarted-t0ken';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('the new active restarts empty before the retire: the old active is never flushed', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    // A drain long enough to kill and restart the new active inside it.
    rbuddyArgs: ['--http-token', TOKEN, ...failoverTimings({ drainMs: 8000 })],
    populate: { megabytes: 1 },
  });
  const { rbuddy } = t;
  const explain = (): string => explainTopology(rbuddy, [t.master, t.active, t.standby]);
  await t.waitForHealthy();
  const keys = await keyCount(t.master.client());
  assert.ok(keys > 0);
  const epochBefore = rbuddy.status().epoch ?? -1;

  const response = await fetch(`${rbuddy.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202);
  await waitFor(() => rbuddy.status().failover?.step === 'switched', {
    what: 'the switch to the standby',
    timeoutMs: 120_000,
    explain,
  });
  assert.equal(rbuddy.status().active, t.standby.address);

  // The new active dies before the old one is retired, and comes back empty (its dump.rdb gone,
  // as a replica without persistence).
  await t.standby.kill9();
  assert.equal(rbuddy.status().failover?.step, 'switched', 'killed before the retire');
  assert.equal(await keyCount(t.active.client()), keys, 'the old active still holds the data');
  rmSync(join(t.standby.dir, 'dump.rdb'), { force: true });
  await t.standby.restart();
  assert.equal(await keyCount(t.standby.client()), 0, 'the new active came back empty');

  // Until rbuddy is healthy again, one node at least holds the data at every moment.
  let lost: string | undefined;
  await waitFor(
    async () => {
      const [a, b] = await Promise.all([keyCount(t.active.client()), keyCount(t.standby.client())]);
      if (a < keys && b < keys) {
        lost = `both replicas lost the data: ${t.active.name} ${a} keys, ${t.standby.name} ${b} (of ${keys})`;
        return true;
      }
      const status = rbuddy.status();
      return status.state === 'healthy' && status.failover === null;
    },
    { what: 'rbuddy healthy again', timeoutMs: 120_000, explain },
  );
  assert.equal(lost, undefined, lost);

  // Healthy: the node rbuddy names holds the master's data.
  const status = rbuddy.status();
  assert.ok((status.epoch ?? -1) > epochBefore + 1, 'the switch back was a new epoch');
  const activeServer = status.active === t.active.address ? t.active : t.standby;
  await waitFor(
    async () => (await digest(activeServer.client())) === (await digest(t.master.client())),
    { what: 'the active holding the master’s data', timeoutMs: 60_000, explain },
  );
});
