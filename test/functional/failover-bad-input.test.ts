// Bad input at start (docs/design.md, "Restart and reconciliation"). A corrupt state file: rbuddy cannot know which node holds the
// dataset, so it relays (a replica resuming with +CONTINUE keeps streaming), reports `degraded`
// with one message naming the file, and sends no destructive command to any node. Both replicas
// unreachable at start: `degraded` naming the node, every command bounded by its timeout (the API
// keeps answering), and recovery on its own once the replicas come up.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { freePort } from '../../harness/processes.js';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats, populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertHeldStandby, keyCount } from '../../harness/held-standby.js';

const TOKEN = 'bad-input-t0ken';
const dirs: string[] = [];

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-bad-input-'));
  dirs.push(dir);
  return dir;
}

/** Commands that change a node's role, data or settings: none may reach a node in doubt. */
const DESTRUCTIVE = [
  'cmdstat_replicaof',
  'cmdstat_slaveof',
  'cmdstat_flushall',
  'cmdstat_flushdb',
  'cmdstat_config|set',
  'cmdstat_client|kill',
];

async function destructiveCalls(client: Redis): Promise<string[]> {
  const stats = await info(client, 'commandstats');
  return DESTRUCTIVE.filter((name) => stats[name] !== undefined).map(
    (name) => `${name}:${stats[name]}`,
  );
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('a corrupt state file: degraded naming the file, nothing destructive, the relay still works', async () => {
  const [master, active, standby] = await Promise.all([
    // Diskless syncs start at once (the default waits 5 s for more replicas to join).
    startRedis({ name: 'master', args: { 'repl-diskless-sync-delay': 0 } }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await populate(master.client(), { megabytes: 5 });
  // A fixed RESP port: the active keeps following the same address across the restart.
  const listen = `127.0.0.1:${await freePort()}`;
  const stateDir = tempDir();
  const args = ['--listen', listen, '--state-dir', stateDir, '--http-token', TOKEN];
  const nodes = { master: master.address, active: active.address, standby: standby.address };

  // A first run leaves a topology whose active holds the dataset.
  const first = await startRbuddy({ ...nodes, args });
  await waitFor(() => first.status().state === 'healthy', {
    what: 'the first rbuddy healthy',
    timeoutMs: 60_000,
  });
  await waitForInSync(master.client(), active.client());
  await first.close();

  const stateFile = join(stateDir, 'state.json');
  const garbage = '{"version": 1, "epoch": \u0000 this is not json';
  writeFileSync(stateFile, garbage);
  for (const replica of [active, standby]) await replica.client().config('RESETSTAT');
  const masterBefore = await masterStats(master.client());
  const keysBefore = { active: await active.client().dbsize(), standby: 0 };
  assert.ok(keysBefore.active > 0);

  const rbuddy = await startRbuddy({ ...nodes, args });
  await waitFor(() => rbuddy.status().state === 'degraded', { what: 'rbuddy degraded' });
  const status = rbuddy.status();
  assert.ok(status.reason?.includes(stateFile), `the reason names the file: ${status.reason}`);
  assert.match(status.reason ?? '', /corrupt/);

  // The relay still works: the active resumes with +CONTINUE and receives new writes.
  await master.client().set('after-restart', 'relayed');
  await waitFor(async () => (await active.client().get('after-restart')) === 'relayed', {
    what: 'a write on the master to reach the active through the proxy',
    timeoutMs: 60_000,
  });
  const masterAfter = await masterStats(master.client());
  assert.equal(masterAfter.syncFull, masterBefore.syncFull, 'no full sync');
  assert.ok(masterAfter.syncPartialOk > masterBefore.syncPartialOk, 'the active PSYNCed');
  assert.equal(
    rbuddy.status().sessions.find((session) => session.replica === active.address)?.phase,
    'streaming',
  );

  // Nothing destructive reached either node, and the data is intact.
  assert.deepEqual(await destructiveCalls(active.client()), [], 'active');
  assert.deepEqual(await destructiveCalls(standby.client()), [], 'standby');
  assert.equal((await info(active.client(), 'replication')).role, 'slave');
  assert.equal(await active.client().dbsize(), keysBefore.active + 1);
  await waitForInSync(master.client(), active.client());
  // The standby stays as the first run left it: held (empty, -MASTERDOWN, -READONLY).
  assert.equal(await keyCount(standby.client()), keysBefore.standby);
  await assertHeldStandby(standby.client(), 'on-the-standby-in-doubt');

  // The file is left for the operator, not silently replaced; operator requests are refused.
  assert.equal(readFileSync(stateFile, 'utf8'), garbage);
  const refused = await fetch(`${rbuddy.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(refused.status, 409);
  assert.equal(rbuddy.status().state, 'degraded');

  // One clear message, naming the file.
  const errors = rbuddy
    .logs()
    .filter((line) => line.level === 'error' || line.level === 'fatal')
    .map((line) => JSON.stringify(line));
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.ok(errors[0]?.includes(stateFile), errors[0]);
});

test('both replicas unreachable at start: degraded naming the node, responsive, recovers on its own', async () => {
  const master = await startRedis({ name: 'master', args: { 'repl-diskless-sync-delay': 0 } });
  await populate(master.client(), { megabytes: 2 });
  const [activePort, standbyPort] = [await freePort(), await freePort()];
  const activeAddress = `127.0.0.1:${activePort}`;
  const standbyAddress = `127.0.0.1:${standbyPort}`;

  // The active's port accepts connections and never answers (a hung node: only a command
  // timeout gets rbuddy out); nothing listens on the standby's port (refused at once).
  const hung = new Set<Socket>();
  const blackHole: Server = createServer((socket) => {
    hung.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => blackHole.listen(activePort, '127.0.0.1', resolve));

  const rbuddy = await startRbuddy({
    master: master.address,
    active: activeAddress,
    standby: standbyAddress,
    args: ['--http-token', TOKEN, '--command-timeout-ms', '500', '--connect-timeout-ms', '500'],
  });
  try {
    await waitFor(
      () => rbuddy.status().state === 'degraded' && rbuddy.status().reason?.includes(activeAddress),
      { what: 'degraded naming the active' },
    );
    // The API answers while the control connections hang; both nodes show why.
    const viaHttp = await getJson(`${rbuddy.httpUrl}/v1/status`);
    assert.equal(viaHttp.status, 200);
    assert.equal(viaHttp.body.state, 'degraded');
    assert.match(String(viaHttp.body.reason), /unreachable/);
    const nodes = viaHttp.body.nodes as Array<{ id: string; reachable: boolean; error: string }>;
    assert.deepEqual(
      nodes.map((node) => [node.id, node.reachable]),
      [
        [activeAddress, false],
        [standbyAddress, false],
      ],
    );
    assert.match(nodes[0]?.error ?? '', /timed? ?out/i);
    assert.ok(hung.size > 0, 'rbuddy did connect to the hung node');
    assert.equal((await getJson(`${rbuddy.httpUrl}/readyz`)).status, 503);
    const refused = await fetch(`${rbuddy.httpUrl}/v1/failover`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(refused.status, 409);
  } finally {
    for (const socket of hung) socket.destroy();
    await new Promise<void>((resolve) => blackHole.close(() => resolve()));
  }

  // The active comes up: still degraded, now naming the standby.
  const active = await startRedis({ name: 'active', port: activePort });
  await waitFor(
    () => rbuddy.status().state === 'degraded' && rbuddy.status().reason?.includes(standbyAddress),
    { what: 'degraded naming the standby', timeoutMs: 60_000 },
  );
  assert.equal((await info(active.client(), 'replication')).role, 'master', 'not attached yet');

  // The standby comes up: rbuddy attaches the active on its own and becomes healthy.
  const standby = await startRedis({ name: 'standby', port: standbyPort });
  await waitFor(() => rbuddy.status().state === 'healthy', {
    what: 'rbuddy healthy',
    timeoutMs: 120_000,
  });
  assert.equal(rbuddy.status().reason, null);
  await waitForInSync(master.client(), active.client());
  assert.equal((await getJson(`${rbuddy.httpUrl}/readyz`)).status, 200);
  // The standby is the held idle standby (empty, -MASTERDOWN, -READONLY).
  await assertHeldStandby(standby.client(), 'on-the-idle-standby');
  assert.equal(rbuddy.status().active, activeAddress);
});
