// Found by the chaos run (docs/reliability.md, "Chaos"): the active is killed (kill -9) and
// restarts from the dump.rdb its last full sync left behind (a replica writes the snapshot it
// loads to dump.rdb even with `save ""`, `readSyncBulkPayload` in replication.c). It comes back a
// master holding a stale dataset, with no `replicaof`. rbuddy calls that "a master holding keys
// but no failover is recorded" and stays `degraded` for good: readers are served a dataset
// frozen at that sync, and a stock Sentinel client asking for a replica (README, "Discovery")
// cannot connect at all. Expected: rbuddy tells the restart (a new run_id) from a promotion by
// someone else, and fails over with the restarted active serving its stale data meanwhile
// (docs/design.md, "Restart and reconciliation"): reads are served throughout, and the standby
// that takes over holds the master's data.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { digest, populate, waitForInSync } from '../../harness/replication.js';
import { keyCount } from '../../harness/held-standby.js';
import { waitFor } from '../../harness/wait-for.js';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { explainTopology, failoverTimings } from '../helpers/topology.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('an active that restarts from its last sync’s dump.rdb is brought back, not left degraded', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await populate(master.client(), { megabytes: 1 });
  const rbuddy = await startRbuddy({
    master: master.address,
    active: active.address,
    standby: standby.address,
    args: failoverTimings(),
  });
  await waitFor(() => rbuddy.status().state === 'healthy', {
    what: 'healthy',
    timeoutMs: 60_000,
  });
  await waitForInSync(master.client(), active.client());
  assert.ok(existsSync(join(active.dir, 'dump.rdb')), 'the full sync left a dump.rdb');

  await active.kill9();
  await active.restart();
  assert.ok((await active.client().dbsize()) > 0, 'the active came back with its old dataset');

  const epochBefore = rbuddy.status().epoch ?? -1;
  const explain = (): string => explainTopology(rbuddy, [master, active, standby]);

  // Until rbuddy is healthy on a new epoch, the node it names the active serves the data.
  let empty: string | undefined;
  await waitFor(
    async () => {
      const status = rbuddy.status();
      const named = status.active === active.address ? active : standby;
      const keys = await keyCount(named.client());
      if (keys === 0) {
        empty = `${named.name}, named the active, holds no keys (state ${status.state})`;
        return true;
      }
      return status.state === 'healthy' && (status.epoch ?? -1) > epochBefore;
    },
    { what: 'rbuddy healthy again on a new epoch', timeoutMs: 120_000, explain },
  );
  assert.equal(empty, undefined, empty);
  assert.equal(rbuddy.status().active, standby.address, 'the standby took over');
  await waitFor(async () => (await digest(standby.client())) === (await digest(master.client())), {
    what: 'the new active holding the master’s data',
    timeoutMs: 60_000,
    explain,
  });
});
