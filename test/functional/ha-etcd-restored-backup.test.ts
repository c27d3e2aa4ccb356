// Two rbuddy CLI processes of one group on a real 3-member etcd cluster, real redis-servers
// (docs/ha.md, "Leader and followers", "Failure modes"): etcd itself loses what it held after a
// planned switch (epoch 1: the configured --standby Y serves, the old active X flushed and held).
// Restored from a cold backup taken before the switch (the epoch-0 state naming X, with the leader
// key and report of that time on a lease etcd revives for a full TTL): no instance's GET /active
// ever names X, no epoch an instance reports goes back below 1, readers following GET /active on
// either instance fail no read and read no nil, Y is neither flushed nor fully synced, and etcd
// ends on a state naming Y at epoch 1 or more. Wiped (every member's data dir emptied): the state
// rebuilt from the nodes takes an epoch after 1 (never 0 again), both instances name Y, with the
// same guarantees for the readers and the nodes. (Before afd690b both instances named X for about
// the restored lease's TTL, their readers failing reads on it, and the wipe rebuilt epoch 0.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { assertHeldStandby } from '../../harness/held-standby.js';
import {
  startReader,
  stopAllReaders,
  type Reader,
  type ReaderResult,
} from '../../harness/reader.js';
import { isWarning, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { digest, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import type { AppStatus } from '../../src/app.js';
import { flushallCalls, startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';

/** --etcd-lease-ms: the restored leader key's lease lives this long again in the restored etcd. */
const LEASE = 3_000;
const SETTLE_MS = 120_000;

let cluster: EtcdCluster;
let etcd: Etcd3;
let backups: string;
const rigs: HaRig[] = [];
const watches = new Set<Watch>();

before(async () => {
  cluster = await startEtcdCluster();
  etcd = new Etcd3({ hosts: [...cluster.clientUrls] });
  backups = mkdtempSync(join(tmpdir(), 'rbuddy-etcd-backup-'));
});

after(async () => {
  await Promise.all([...watches].map((watch) => watch.stop()));
  await stopAllReaders();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  etcd.close();
  await cluster.close();
  rmSync(backups, { recursive: true, force: true });
});

/** Every etcd member ended (SIGTERM or SIGKILL), `meanwhile` done to each data dir, all started. */
async function whileEtcdDown(
  how: 'stop' | 'kill9',
  meanwhile: (dataDir: string, index: number) => Promise<void>,
): Promise<void> {
  await Promise.all(cluster.members.map((_, index) => cluster[how](index)));
  // Not synchronously: the readers and the watch of this process go on meanwhile, on time.
  await Promise.all(cluster.members.map((member, index) => meanwhile(member.dataDir, index)));
  // Together: no member is healthy before a quorum of them runs.
  await Promise.all(cluster.members.map((_, index) => cluster.start(index)));
}

const copyDir = async (from: string, to: string): Promise<void> => {
  await promisify(execFile)('cp', ['-a', from, to]);
};

function brief(status: AppStatus): Record<string, unknown> {
  const { state, reason, epoch, active, leader, leaderAnnounce } = status;
  return { state, reason, epoch, active, leader, leaderAnnounce };
}

async function explain(rig: HaRig): Promise<string> {
  const lines: string[] = [];
  for (const rbuddy of rig.instances) {
    const seen = await rig.status(rbuddy).then(brief, (error: unknown) => String(error));
    lines.push(`instance ${rbuddy.resp.port}: ${JSON.stringify(seen)}`);
    lines.push(
      ...rbuddy
        .logs()
        .filter(isWarning)
        .slice(-8)
        .map((line) => JSON.stringify(line)),
    );
  }
  return lines.join('\n');
}

interface Settled {
  leader: RbuddyProcess;
  follower: RbuddyProcess;
  statuses: AppStatus[];
}

/** One instance leads, the other follows, both healthy and `check` holds for both; else undefined. */
async function settledNow(
  rig: HaRig,
  check: (status: AppStatus) => boolean,
): Promise<Settled | undefined> {
  const [a, b] = rig.instances;
  if (a === undefined || b === undefined) throw new Error('the rig runs two instances');
  const [sa, sb] = await Promise.all([rig.status(a), rig.status(b)]);
  const statuses = [sa, sb];
  if (!statuses.every((s) => s.state === 'healthy' && check(s))) return undefined;
  if (sa.leader === true && sb.leader === false) return { leader: a, follower: b, statuses };
  if (sb.leader === true && sa.leader === false) return { leader: b, follower: a, statuses };
  return undefined;
}

/** Waits until settledNow() holds (whichever instance leads). */
function settled(rig: HaRig, what: string, check: (s: AppStatus) => boolean): Promise<Settled> {
  return waitFor(() => settledNow(rig, check), {
    what,
    timeoutMs: SETTLE_MS,
    explain: () => explain(rig),
  });
}

/** Waits until settledNow() has held on every poll for a lease (a view that went back would show). */
function stayedSettled(
  rig: HaRig,
  what: string,
  check: (s: AppStatus) => boolean,
): Promise<Settled> {
  let since: number | undefined;
  return waitFor(
    async () => {
      const seen = await settledNow(rig, check).catch(() => undefined);
      if (seen === undefined) {
        since = undefined;
        return undefined;
      }
      since ??= Date.now();
      return Date.now() - since >= LEASE ? seen : undefined;
    },
    { what, timeoutMs: SETTLE_MS, intervalMs: 100, explain: () => explain(rig) },
  );
}

/** A group of two instances, settled at epoch 0: X (the configured --active) serves. */
async function startGroup(): Promise<HaRig> {
  const rig = await startHaRig(cluster, { leaseMs: LEASE });
  rigs.push(rig);
  await settled(rig, 'a leader and its follower healthy at epoch 0, naming X', (s) => {
    return s.epoch === 0 && s.active === rig.active.address;
  });
  return rig;
}

/** POST /v1/failover to whichever leads; both at epoch 1 naming Y, X retired (flushed, held). */
async function plannedSwitch(rig: HaRig): Promise<void> {
  const { leader } = await settled(
    rig,
    'a leader and its follower healthy before the switch',
    (s) => {
      return s.epoch === 0 && s.active === rig.active.address;
    },
  );
  const accepted = await fetch(`${leader.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(accepted.status, 202);
  await settled(rig, 'both instances at epoch 1 naming Y, the switch done', (s) => {
    return s.epoch === 1 && s.active === rig.standby.address && s.failover === null;
  });
  await waitForInSync(rig.master.client(), rig.standby.client());
  await waitFor(
    async () => {
      await assertHeldStandby(rig.active.client(), 'ha:key');
      return true;
    },
    { what: 'X retired: flushed and held', timeoutMs: 60_000 },
  );
}

interface Seen {
  at: number;
  port: number;
  what: string;
}

interface Watch {
  /** Every distinct GET /active answer of each instance, in order. */
  answers: Seen[];
  /** Every epoch each instance reported in /v1/status (null while it cannot tell). */
  epochs: Array<{ at: number; port: number; epoch: number | null }>;
  /** Every change of an instance's status (state, epoch, active, leading), in order. */
  statuses: Seen[];
  stop(): Promise<void>;
}

/** Polls GET /active and /v1/status of both instances every 50 ms. */
function watch(rig: HaRig): Watch {
  const answers: Seen[] = [];
  const statuses: Seen[] = [];
  const epochs: Watch['epochs'] = [];
  const last = new Map<string, string>();
  const record = (list: Seen[], port: number, kind: string, what: string): void => {
    // A 503's "last read from etcd 3.7 s ago" changes every poll: the same answer all the same.
    const same = what.replace(/[\d.]+ s ago/g, 'some time ago');
    if (last.get(`${kind}${port}`) === same) return;
    last.set(`${kind}${port}`, same);
    list.push({ at: Date.now(), port, what });
  };
  const once = async (rbuddy: RbuddyProcess): Promise<void> => {
    const port = rbuddy.resp.port;
    try {
      const response = await fetch(`${rbuddy.httpUrl}/active`, {
        signal: AbortSignal.timeout(1_000),
      });
      record(answers, port, 'active', `${response.status} ${(await response.text()).trim()}`);
      const status = await rig.status(rbuddy);
      epochs.push({ at: Date.now(), port, epoch: status.epoch });
      const { state, epoch, active, leader } = status;
      record(statuses, port, 'status', JSON.stringify({ state, epoch, active, leader }));
    } catch (error) {
      // Not a verdict (the next poll asks again), but it tells when an instance answered late.
      record(statuses, port, 'status', `poll failed: ${String(error)}`);
    }
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(rig.instances.map(once));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const watching: Watch = {
    answers,
    epochs,
    statuses,
    async stop() {
      running = false;
      watches.delete(watching);
      await loop;
    },
  };
  watches.add(watching);
  return watching;
}

/** What the watch saw and what the instances warned of from `since` on, for a failure message. */
function timeline(rig: HaRig, seen: Watch, since: number): string {
  const warnings = rig.instances.flatMap((rbuddy) =>
    rbuddy
      .logs()
      .filter((line) => isWarning(line) && Date.parse(String(line.time)) >= since)
      .map((line) => ({
        at: Date.parse(String(line.time)),
        port: rbuddy.resp.port,
        what: `warn ${String(line.msg)}`,
      })),
  );
  return [...seen.answers.map((a) => ({ ...a, what: `GET /active ${a.what}` }))]
    .concat(seen.statuses, warnings)
    .filter((entry) => entry.at >= since)
    .sort((a, b) => a.at - b.at)
    .slice(0, 120)
    .map((entry) => `+${entry.at - since}ms :${entry.port} ${entry.what}`)
    .join('\n');
}

/** A reader following GET /active on each instance; resolves once both have read. */
async function readersOnBoth(rig: HaRig): Promise<Reader[]> {
  const readers = rig.instances.map((rbuddy) =>
    startReader({
      httpUrl: rbuddy.httpUrl,
      key: 'ha:key',
      expected: 'value',
      unknownIsNoRead: true,
    }),
  );
  await waitFor(() => readers.every((reader) => reader.ok >= 20), {
    what: 'reads through both instances',
  });
  return readers;
}

/** More reads through both readers (etcd back), then the readers stopped: their results. */
async function readersDone(readers: Reader[]): Promise<ReaderResult[]> {
  const counts = readers.map((reader) => reader.ok);
  await waitFor(() => readers.every((reader, i) => reader.ok >= (counts[i] ?? 0) + 20), {
    what: 'reads through both instances after etcd came back',
    timeoutMs: 60_000,
  });
  return Promise.all(readers.map((reader) => reader.stop()));
}

/** The readers' verdicts: no failed read, no nil, sent to Y only. */
function assertReads(rig: HaRig, results: ReaderResult[], story: () => string): void {
  for (const [i, result] of results.entries()) {
    const which = `the reader via instance ${String(rig.instances[i]?.resp.port)}`;
    const why = `${which}: ${result.errors.join('; ')}\n${story()}`;
    assert.equal(result.failed, 0, `${which} failed reads: ${why}`);
    assert.equal(result.nil, 0, `${which} read nil: ${why}`);
    assert.deepEqual(result.actives, [`redis://${rig.standby.address}/`], why);
  }
}

/** The group's state key as etcd holds it (stamped JSON). */
async function storedState(rig: HaRig): Promise<{ epoch?: number; active?: string } | null> {
  const text = await etcd.get(rig.keys.state).string();
  return text === null ? null : (JSON.parse(text) as { epoch?: number; active?: string });
}

/** Y, the node with the data: never flushed, never fully synced again, still streaming. */
async function assertNodeWithDataKept(rig: HaRig, syncFull: number): Promise<void> {
  const master = rig.master.client();
  const withData = rig.standby.client();
  await master.set('ha:after-etcd', 'relayed');
  await waitForInSync(master, withData);
  assert.equal(await digest(withData), await digest(master), 'Y holds the master data');
  assert.equal(await withData.get('ha:key'), 'value');
  assert.equal(await flushallCalls(withData), 0, 'no FLUSHALL sent to Y');
  assert.equal((await masterStats(master)).syncFull, syncFull, 'no full sync');
  await assertHeldStandby(rig.active.client(), 'ha:key');
}

test('etcd restored from a cold backup taken before a planned switch: nobody names the flushed node, no epoch goes back', async () => {
  const rig = await startGroup();
  const [X, Y] = [rig.active.address, rig.standby.address];

  // The cold backup: every member stopped, its data dir copied, started again.
  await whileEtcdDown('stop', (dataDir, index) => copyDir(dataDir, join(backups, `m${index}`)));
  await plannedSwitch(rig);

  const master = rig.master.client();
  await rig.standby.client().config('RESETSTAT');
  const syncFull = (await masterStats(master)).syncFull;
  const readers = await readersOnBoth(rig);
  const seen = watch(rig);

  // The restore: every member killed, its data dir replaced by the backup's, started again. The
  // backup is copied beside each data dir first: etcd is down for a rename and a restart only.
  const restored = (dataDir: string): string => `${dataDir}.restored`;
  await Promise.all(
    cluster.members.map((m, i) => copyDir(join(backups, `m${i}`), restored(m.dataDir))),
  );
  const restoredAt = Date.now();
  await whileEtcdDown('kill9', async (dataDir) => {
    await rm(dataDir, { recursive: true, force: true });
    await rename(restored(dataDir), dataDir);
  });
  const story = (): string => timeline(rig, seen, restoredAt);
  // Past the restored leader key's lease (revived for a full TTL), and a lease more of it all.
  await stayedSettled(rig, 'both instances healthy naming Y for a lease after the restore', (s) => {
    return s.active === Y;
  });
  const reads = await readersDone(readers);
  await seen.stop();

  const namedX = seen.answers.filter((answer) => answer.what.includes(`redis://${X}/`));
  assert.deepEqual(namedX, [], `GET /active named X, the flushed node:\n${story()}`);
  const other = seen.answers.filter((answer) => {
    return answer.what !== `200 redis://${Y}/` && !answer.what.startsWith('503 ');
  });
  assert.deepEqual(other, [], `GET /active answered other than Y or 503:\n${story()}`);
  const back = seen.epochs.filter((e) => e.epoch !== null && e.epoch < 1);
  assert.deepEqual(back, [], `an epoch went back below 1:\n${story()}`);
  assertReads(rig, reads, story);

  const stored = await waitFor(() => storedState(rig), { what: "the group's state in etcd" });
  assert.ok((stored.epoch ?? -1) >= 1, `etcd's state at epoch ${String(stored.epoch)}`);
  assert.equal(stored.active, Y, "etcd's state names Y");
  await assertNodeWithDataKept(rig, syncFull);
  await rig.close();
});

test('etcd wiped (every data dir emptied) after a planned switch: the state rebuilt takes an epoch after 1, never 0', async () => {
  const rig = await startGroup();
  const Y = rig.standby.address;
  await plannedSwitch(rig);

  const master = rig.master.client();
  await rig.standby.client().config('RESETSTAT');
  const syncFull = (await masterStats(master)).syncFull;
  const readers = await readersOnBoth(rig);
  const seen = watch(rig);

  const wipedAt = Date.now();
  await whileEtcdDown('kill9', (dataDir) => rm(dataDir, { recursive: true, force: true }));
  const story = (): string => timeline(rig, seen, wipedAt);
  // The group noticed: its leader wrote a state again into the empty etcd.
  const rebuilt = await waitFor(() => storedState(rig), {
    what: "the group's state written again after the wipe",
    timeoutMs: SETTLE_MS,
    explain: () => explain(rig),
  });
  const { statuses } = await stayedSettled(rig, 'both healthy naming Y after the wipe', (s) => {
    return s.active === Y;
  });
  const stored = await waitFor(() => storedState(rig), { what: "the group's state in etcd" });
  const epochs = statuses.map((s) => s.epoch);
  const why = `rebuilt at ${JSON.stringify(rebuilt.epoch)}, instances at ${JSON.stringify(epochs)}:\n${story()}`;
  assert.ok((stored.epoch ?? -1) > 1, `etcd's state at epoch ${String(stored.epoch)}, ${why}`);
  assert.deepEqual(epochs, [stored.epoch, stored.epoch], why);
  assert.equal(stored.active, Y, "etcd's state names Y");
  assertReads(rig, await readersDone(readers), story);
  await seen.stop();

  const back = seen.epochs.filter((e) => e.epoch !== null && e.epoch < 1);
  assert.deepEqual(back, [], `an epoch went back below 1:\n${story()}`);
  const X = `redis://${rig.active.address}/`;
  const namedX = seen.answers.filter((answer) => answer.what.includes(X));
  assert.deepEqual(namedX, [], `GET /active named X, the flushed node:\n${story()}`);
  await assertNodeWithDataKept(rig, syncFull);
  await rig.close();
});
