// The active is killed (kill -9) and restarts empty (a replica without persistence) while
// rbuddy's state dir cannot be written. rbuddy holds the empty node at once all the same: its
// readers get -MASTERDOWN, never a nil; the proxy answers its sync -NOMASTERLINK, so the master
// never forks for a full sync; status says what is going on (never `healthy`). Once the state can
// be written, the failover completes as any other, and the old active's own settings are the ones
// kept for it (docs/design.md, "Roles and states"; docs/reliability.md, "Findings"). Meanwhile
// /readyz answers 503 with the reason.
//
// The state is made unwritable by a directory put where state.json goes: every write then fails
// at its rename (EISDIR), as root or not (chmod does not stop root; a full or read-only
// filesystem needs root to make). The real CLI (the restart rig); real redis-server.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import { info, masterStats, waitForInSync } from '../../harness/replication.js';
import type { RedisServer } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { getOnce } from '../helpers/get-once.js';
import { startRig } from '../helpers/restart-rig.js';

const KEY = 'back-empty-unwritable-key';

/** Full syncs served and forks made by the master since it started. */
async function forkCounts(master: RedisServer): Promise<{ syncFull: number; forks: number }> {
  const { syncFull } = await masterStats(master.client());
  const forks = Number((await info(master.client(), 'stats'))['total_forks']);
  return { syncFull, forks };
}

test('an active back empty while the state dir cannot be written answers -MASTERDOWN, never nil, until the failover completes', async () => {
  const rig = await startRig({ drainMs: 1000, populate: { megabytes: 1 } });
  const { master, active, standby } = rig;
  await master.client().set(KEY, 'value');
  await waitForInSync(master.client(), active.client());
  const file = (await rig.status()).stateStore.file;
  const forksBefore = await forkCounts(master);

  await active.kill9();
  // A replica writes the snapshot it loads to dump.rdb even with `save ""`
  // (`readSyncBulkPayload` in replication.c): without it the node restarts empty.
  rmSync(join(active.dir, 'dump.rdb'), { force: true });
  await rm(file);
  await mkdir(join(file, 'in-the-way'), { recursive: true });
  let writable = false;

  // Reads the active's address from its restart until the failover is over.
  const answers: { answer: string; writable: boolean }[] = [];
  let reading = true;
  const reader = (async () => {
    while (reading) {
      const answer = await getOnce(active, KEY);
      answers.push({ answer, writable });
      if (answer.startsWith('conn:')) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  const summary = (): string => {
    const counts = new Map<string, number>();
    for (const { answer } of answers) {
      const kind = answer.startsWith('-') ? (answer.split(' ')[0] ?? answer) : answer;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    return JSON.stringify(Object.fromEntries(counts));
  };
  const heldSince = (): number =>
    answers.findIndex(({ answer }) => answer.startsWith('-MASTERDOWN'));
  const statesSeen = new Set<string>();
  const heldRetries = (): number =>
    rig.rbuddy
      .logs()
      .filter(
        (line) =>
          line.msg === 'sync held: answered -NOMASTERLINK' &&
          Array.isArray(line.replicas) &&
          (line.replicas as unknown[]).includes(active.address),
      ).length;
  try {
    await active.restart();
    // Held, and rbuddy says so, before the state can be written again.
    await waitFor(() => heldSince() >= 0, {
      what: 'the empty active answering -MASTERDOWN while the state cannot be written',
      timeoutMs: 60_000,
      explain: summary,
    });
    const held = await rig.waitForStatus(
      'degraded, naming the held active and the state write',
      // (A round may first find the restarted node unreachable, its control connection
      // reconnecting: degraded for that reason before this one.)
      (status) =>
        status.state === 'degraded' && /came back empty and is held/.test(status.reason ?? ''),
    );
    assert.match(held.reason ?? '', /came back empty and is held/);
    assert.match(held.reason ?? '', /state\.json/);
    assert.equal(held.stateStore.writable, false);
    assert.equal(held.failover, null, 'nothing recorded');
    // The node /active names answers -MASTERDOWN: not ready, saying why.
    const readyz = await fetch(`${rig.rbuddy.httpUrl}/readyz`);
    const unready = (await readyz.json()) as { reason?: string };
    assert.equal(readyz.status, 503, JSON.stringify(unready));
    assert.match(unready.reason ?? '', /came back empty and is held/);
    // The held node retries its sync every second: three of its retries are held, and meanwhile
    // every status read says it is not healthy.
    const retries = heldRetries();
    await waitFor(
      async () => {
        const status: AppStatus = await rig.status();
        statesSeen.add(status.state);
        return heldRetries() >= retries + 3;
      },
      { what: 'three of its sync retries held', timeoutMs: 60_000 },
    );
    assert.deepEqual([...statesSeen], ['degraded'], 'never healthy while held in memory');
    assert.deepEqual(await forkCounts(master), forksBefore, 'no full sync, no fork, while held');

    writable = true;
    await rm(file, { recursive: true });
    const done = await rig.waitForStatus(
      'the failover completed',
      (status) => status.state === 'healthy' && status.lastFailover?.result === 'completed',
    );
    reading = false;
    await reader;

    const since = heldSince();
    assert.ok(since >= 0 && !answers[since]?.writable, `held before writable: ${summary()}`);
    const nils = answers.slice(since).filter(({ answer }) => answer === '$-1');
    assert.deepEqual(nils, [], `no nil once it answered -MASTERDOWN: ${summary()}`);
    process.stderr.write(`reads of the active's address: ${summary()}\n`);

    // The node /active names (the former standby) has the data.
    assert.equal(done.active, standby.address);
    const url = await (await fetch(`${rig.rbuddy.httpUrl}/active`)).text();
    assert.equal(url.trim(), `redis://${standby.address}/`);
    assert.equal(await standby.client().get(KEY), 'value');
    await waitForInSync(master.client(), standby.client());

    // The old active is the held standby, with its own settings kept for when it is the active
    // again: Redis's defaults, which it started with, not the held values.
    const state = JSON.parse(await readFile(file, 'utf8')) as PersistedState;
    assert.deepEqual(state.standbySavedConfig, {
      'min-replicas-to-write': '0',
      'min-replicas-max-lag': '10',
      'replica-serve-stale-data': 'yes',
    });
    const config = (await active.client().config('GET', 'min-replicas-*')) as string[];
    const settings = new Map<string, string>();
    for (let i = 0; i + 1 < config.length; i += 2)
      settings.set(config[i] ?? '', config[i + 1] ?? '');
    assert.equal(settings.get('min-replicas-to-write'), '0');
    assert.equal(settings.get('min-replicas-max-lag'), '10');
    assert.equal(await getOnce(active, KEY).then((answer) => answer.split(' ')[0]), '-MASTERDOWN');
  } finally {
    reading = false;
    await reader;
  }
});
