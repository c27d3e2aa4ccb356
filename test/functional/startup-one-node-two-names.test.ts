// Nodes are identified, not assumed (docs/design.md, "Limits and trust"): --active and --standby
// that reach one redis-server under two addresses (here 127.0.0.1:P and 127.0.0.2:P, one server
// bound to both) pass the configuration check, since the addresses differ, but the node answers
// both control connections with one run_id. The real CLI, started on a first start with
// --init-flush-standby, must then report `degraded` naming the run_id and send the node nothing
// destructive: it keeps its role, its master and every key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { terminate } from '../../harness/processes.js';
import { cliArgs, spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { info, populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';

const spawned: RbuddyProcess[] = [];
const dirs: string[] = [];

after(async () => {
  await Promise.all(spawned.map((rbuddy) => terminate(rbuddy.child)));
  await stopAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('two addresses of one redis-server as --active and --standby: degraded on its run_id, nothing destructive', async () => {
  const master = await startRedis({ name: 'master', args: { 'repl-diskless-sync-delay': 0 } });
  await populate(master.client(), { megabytes: 1 });
  // One server on two loopback addresses (Linux routes all of 127.0.0.0/8 to lo), replicating
  // straight from the master, so that it holds keys a flush would destroy.
  const node = await startRedis({ name: 'one-node', args: { bind: '127.0.0.1 127.0.0.2' } });
  const control = node.client();
  await control.replicaof(master.host, master.port);
  await waitForInSync(master.client(), control);
  const keys = await control.dbsize();
  assert.ok(keys > 0);
  await control.config('RESETSTAT');

  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-one-node-'));
  dirs.push(stateDir);
  const rbuddy = await spawnRbuddy(
    cliArgs(
      {
        master,
        active: { address: `127.0.0.1:${node.port}` },
        standby: { address: `127.0.0.2:${node.port}` },
      },
      { listen: '127.0.0.1:0', stateDir, extra: ['--init-flush-standby'] },
    ),
  );
  spawned.push(rbuddy);
  const runId = (await info(control, 'server')).run_id ?? '';
  const status = await waitFor(
    async () => {
      const response = await fetch(`${rbuddy.httpUrl}/v1/status`, {
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await response.json()) as AppStatus;
      return body.state === 'degraded' && body.reason?.includes('run_id') === true
        ? body
        : undefined;
    },
    { what: 'degraded on the shared run_id', timeoutMs: 30_000 },
  );
  assert.ok(status.reason?.includes(runId), `the reason names the run_id: ${status.reason}`);
  assert.equal(status.epoch, null, 'no state written: nothing was decided');

  // Nothing reached the node: no flush, no REPLICAOF, no CONFIG SET; its data and master intact.
  const stats = await info(control, 'commandstats');
  for (const command of ['flushall', 'flushdb', 'replicaof', 'slaveof', 'config|set']) {
    assert.equal(stats[`cmdstat_${command}`], undefined, `no ${command}`);
  }
  const replication = await info(control, 'replication');
  assert.equal(replication.role, 'slave');
  assert.equal(replication.master_port, String(master.port));
  assert.equal(await control.dbsize(), keys);
  assert.equal((await fetch(`${rbuddy.httpUrl}/readyz`)).status, 503);
});
