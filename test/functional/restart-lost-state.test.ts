// docs/design.md, "Restart and reconciliation": a lost or corrupt state file is never mistaken for
// a first start when the nodes' own roles say otherwise. After a planned switch the configured
// --standby is the node applications read; rbuddy is stopped and its state.json deleted (or
// garbled), and a new process starts with the very same flags, --init-flush-standby included. The
// serving node keeps every key (no FLUSHALL, no full sync), rbuddy adopts it as the active (missing
// file) or stays degraded (corrupt file), and GET /active and Sentinel discovery name it either
// way.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { freePort } from '../../harness/processes.js';
import { RawClient } from '../helpers/raw-client.js';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { digest, info, masterStats, waitForInSync } from '../../harness/replication.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import { failoverTimings, startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'lost-state-t0ken';
const dirs: string[] = [];
const clients: RawClient[] = [];

after(async () => {
  for (const client of clients) client.close();
  await stopAllRbuddy();
  await stopAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** How many times FLUSHALL ran on a node since its last CONFIG RESETSTAT. */
async function flushallCalls(client: Redis): Promise<number> {
  const line = (await info(client, 'commandstats'))['cmdstat_flushall'];
  return line === undefined ? 0 : Number(/(?:^|,)calls=(\d+)/.exec(line)?.[1] ?? NaN);
}

async function getText(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, text: (await response.text()).trim() };
}

async function masterAddrByName(rbuddy: RbuddyUnderTest): Promise<unknown> {
  const client = await RawClient.connect(rbuddy.resp.host, rbuddy.resp.port);
  clients.push(client);
  const reply = await client.command('SENTINEL', 'get-master-addr-by-name', 'rbuddy');
  return Array.isArray(reply) ? reply.map(String) : reply;
}

interface Switched {
  t: Topology;
  /** The node applications read after the switch: the configured --standby. */
  serving: RedisServer;
  stateFile: string;
  /** The same flags for the next process, plus --init-flush-standby. */
  restartArgs: string[];
}

/** A topology after a completed planned switch, its rbuddy stopped (the replicas stay). */
async function afterPlannedSwitch(): Promise<Switched> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-lost-state-'));
  dirs.push(stateDir);
  // A fixed RESP port: the serving replica keeps following the same address across the restart.
  const args = [
    '--listen',
    `127.0.0.1:${await freePort()}`,
    '--state-dir',
    stateDir,
    '--http-token',
    TOKEN,
    ...failoverTimings({ drainMs: 200 }),
  ];
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: args,
    populate: { megabytes: 2 },
  });
  await t.waitForHealthy();
  const accepted = await fetch(`${t.rbuddy.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(accepted.status, 202);
  await waitFor(
    () => {
      const status = t.rbuddy.status();
      return (
        status.state === 'healthy' &&
        status.failover === null &&
        status.active === t.standby.address
      );
    },
    { what: 'the planned switch to complete', timeoutMs: 120_000 },
  );
  await waitForInSync(t.master.client(), t.standby.client());
  await t.rbuddy.close();
  for (const replica of [t.active, t.standby]) await replica.client().config('RESETSTAT');
  return {
    t,
    serving: t.standby,
    stateFile: join(stateDir, 'state.json'),
    restartArgs: [...args, '--init-flush-standby'],
  };
}

function restart(s: Switched): Promise<RbuddyUnderTest> {
  return startRbuddy({
    master: s.t.master.address,
    active: s.t.active.address,
    standby: s.t.standby.address,
    args: s.restartArgs,
  });
}

test('state.json deleted after a planned switch, restarted with --init-flush-standby: the serving node is adopted, not flushed', async () => {
  const s = await afterPlannedSwitch();
  const { t, serving } = s;
  const master = t.master.client();
  const keysBefore = await serving.client().dbsize();
  assert.ok(keysBefore > 0);
  rmSync(s.stateFile);
  const syncFullBefore = (await masterStats(master)).syncFull;

  const rbuddy = await restart(s);
  await waitFor(() => rbuddy.status().state === 'healthy', {
    what: 'rbuddy healthy, the roles adopted from the nodes',
    timeoutMs: 60_000,
    explain: () => JSON.stringify(rbuddy.status()),
  });
  const status = rbuddy.status();
  assert.equal(status.active, serving.address, 'the serving node is the active');
  assert.equal(status.standby, t.active.address);
  // The epoch of the lost file is unknowable: adoption keeps 0 and announces nothing.
  assert.equal(status.epoch, 0);
  assert.deepEqual(rbuddy.app.events.history(), []);
  const persisted = JSON.parse(readFileSync(s.stateFile, 'utf8')) as Record<string, unknown>;
  assert.equal(persisted.active, serving.address);
  assert.equal(persisted.activeHoldsData, true);

  // Every key kept, never flushed, and it goes on replicating without a full sync.
  assert.equal(await flushallCalls(serving.client()), 0, 'the serving node was never flushed');
  assert.equal(await serving.client().dbsize(), keysBefore);
  await master.set('after-the-restart', 'relayed');
  await waitForInSync(master, serving.client());
  assert.equal(await digest(serving.client()), await digest(master));
  assert.equal((await masterStats(master)).syncFull, syncFullBefore, 'no full sync');
  // The old active stays the held standby (never detached: as a master it would answer nils).
  await assertHeldStandby(t.active.client(), 'reader-key');

  assert.deepEqual(await getText(`${rbuddy.httpUrl}/active`), {
    status: 200,
    text: `redis://${serving.address}/`,
  });
  assert.deepEqual(await masterAddrByName(rbuddy), [serving.host, String(serving.port)]);
});

test('a corrupt state.json after a planned switch: degraded, nothing flushed, /active and Sentinel still name the serving node', async () => {
  const s = await afterPlannedSwitch();
  const { t, serving } = s;
  const garbage = '{"version": 1, "epoch": 1, "active": ';
  writeFileSync(s.stateFile, garbage);
  const keysBefore = await serving.client().dbsize();

  const rbuddy = await restart(s);
  await waitFor(
    () => rbuddy.status().state === 'degraded' && rbuddy.status().active === serving.address,
    {
      what: 'degraded, naming the serving node from what the nodes report',
      explain: () => JSON.stringify(rbuddy.status()),
    },
  );
  assert.ok(rbuddy.status().reason?.includes(s.stateFile), 'the reason names the file');
  assert.deepEqual(await getText(`${rbuddy.httpUrl}/active`), {
    status: 200,
    text: `redis://${serving.address}/`,
  });
  assert.deepEqual(await getText(`${rbuddy.httpUrl}/standby`), {
    status: 200,
    text: `redis://${t.active.address}/`,
  });
  assert.deepEqual(await masterAddrByName(rbuddy), [serving.host, String(serving.port)]);

  // Nothing was done to either node, and the file is left for the operator.
  await t.master.client().set('after-the-restart', 'relayed');
  await waitForInSync(t.master.client(), serving.client());
  assert.equal(await serving.client().dbsize(), keysBefore + 1);
  assert.equal(await flushallCalls(serving.client()), 0);
  assert.equal(await flushallCalls(t.active.client()), 0);
  assert.equal(readFileSync(s.stateFile, 'utf8'), garbage);
  assert.equal(rbuddy.status().state, 'degraded');
});
