// `npm run demo`: the failover story of SPEC §5 on local ephemeral ports. A master, two replicas
// and the real rbuddy CLI; rbuddy attaches the active replica itself and keeps the standby an
// idle, empty master. A writer keeps the master busy and a reader follows GET /active. The master
// is killed (kill -9): the active is promoted and keeps serving; the master comes back from its
// RDB; the standby full-syncs through rbuddy; the roles switch and the old active is flushed to
// stand by. Every claim printed is checked, and the exit code says whether all checks held.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { AppStatus } from '../src/app.js';
import type { SessionStatus } from '../src/proxy/session-types.js';
import { hasExited, isPidAlive, killTrackedNow, terminate } from '../harness/processes.js';
import { spawnRbuddy, type RbuddyProcess } from '../harness/rbuddy-process.js';
import { startRedis, stopAllRedis, type RedisServer } from '../harness/redis-server.js';
import { digest, info, populate, startWriter, type Writer } from '../harness/replication.js';
import { waitFor } from '../harness/wait-for.js';
import { FailoverMonitor, type Replica } from './monitor.js';
import { Reader } from './reader.js';
import { bytes, count, seconds, table, Terminal } from './terminal.js';

const DATASET_MIB = 200;
const DBS = [0, 1, 2] as const;
/** Fast but realistic: the defaults are 10 s grace, 5 s drain, a probe a second. */
const SETTINGS = { graceMs: 2_000, drainMs: 2_000, probeIntervalMs: 250, probeTimeoutMs: 250 };
/** Upper bound for any one wait: a 200 MiB sync on a loaded 2-core machine can take a while. */
const STEP_TIMEOUT_MS = 120_000;
/** Reads the reader must serve at each stage, so that every stage is really read through. */
const READS_PER_STAGE = 100;
const READER_KEY = 'demo:reader';
const READER_VALUE = 'the value every read must return';
const EXPECTED_EVENTS = [
  'master.down',
  'active.promoted',
  'standby.attached',
  'master.up',
  'standby.synced',
  'failover.completed',
  'standby.ready',
] as const;
const EXPECTED_STATES = ['healthy', 'master-lost', 'failing-over', 'switching', 'healthy'];
const EXPECTED_TIMELINE = [
  'started',
  'standby-attached',
  'synced',
  'switched',
  'flushed',
  'standby-ready',
];

const INTRO = [
  'A master, two replicas and rbuddy, all on local ephemeral ports. rbuddy attaches replica1',
  '(the active) to the master through itself and keeps replica2 (the standby) an idle, empty',
  'master. A writer keeps the master busy; a reader asks GET /active before every read.',
  'Then the master is killed (kill -9): rbuddy promotes the active, which keeps serving; the',
  'master comes back from its RDB; the standby full-syncs through rbuddy; the roles switch and',
  'the old active is flushed to stand by. Every claim is checked; the exit code says if all held.',
];

const t0 = Date.now();
const term = new Terminal();

interface Check {
  ok: boolean;
  text: string;
}

/** Everything this run started, so that every way out stops exactly that and nothing else. */
const owned: {
  servers: RedisServer[];
  pids: Array<{ what: string; pid: number }>;
  dirs: string[];
  rbuddy: RbuddyProcess | undefined;
  writer: Writer | undefined;
  reader: Reader | undefined;
  monitor: FailoverMonitor | undefined;
} = {
  servers: [],
  pids: [],
  dirs: [],
  rbuddy: undefined,
  writer: undefined,
  reader: undefined,
  monitor: undefined,
};
/** Servers the demo stopped on purpose: their exit is not a failure. */
const expectedDown = new Set<RedisServer>();

/** rbuddy even after the demo stopped it on purpose, for diagnostics. */
let lastRbuddy: RbuddyProcess | undefined;

const checks: Check[] = [];
function check(ok: boolean, text: string): boolean {
  owned.monitor?.flush();
  checks.push({ ok, text });
  const mark = ok ? term.paint('green', '[ok]  ') : term.paint('red', '[FAIL]');
  term.line(`  ${mark} ${text}`);
  return ok;
}

// ---- the story ------------------------------------------------------------------------------

async function story(): Promise<void> {
  term.line(term.paint('bold', 'rbuddy demo: the master dies, the reads go on'));
  term.line();
  for (const line of INTRO) term.line(line);

  // 1. Redis ----------------------------------------------------------------------------------
  term.heading('1. Start a master and two replicas');
  const [master, server1, server2] = await Promise.all([
    startRedis({
      name: 'master',
      // A disk snapshot (not diskless) without LZF compression: what crosses the wire is the
      // real size of the dataset, and its `$<len>` header lets rbuddy show progress against it.
      // `save` makes it a master that persists: it comes back from its RDB after the crash.
      args: { 'repl-diskless-sync': 'no', rdbcompression: 'no', save: '3600 1' },
    }),
    startRedis({ name: 'replica1' }),
    startRedis({ name: 'replica2' }),
  ]);
  const servers = [master, server1, server2];
  owned.servers.push(...servers);
  for (const server of servers) {
    owned.pids.push({ what: `redis-server ${server.name}`, pid: server.pid });
  }
  const masterClient = master.client();
  const version = (await info(masterClient, 'server'))['redis_version'] ?? '?';
  for (const server of servers) {
    term.line(
      `  ${server.name.padEnd(8)} redis-server ${version} on ${server.address} (pid ${server.pid})`,
    );
  }
  const r1: Replica = { name: 'replica1', address: server1.address, colour: 'cyan' };
  const r2: Replica = { name: 'replica2', address: server2.address, colour: 'magenta' };
  const client1 = server1.client();
  const client2 = server2.client();

  // 2. Data -----------------------------------------------------------------------------------
  term.heading(`2. Load ${DATASET_MIB} MiB into the master`);
  const loadStart = Date.now();
  await populate(masterClient, { megabytes: DATASET_MIB, dbs: [...DBS] });
  await masterClient.set(READER_KEY, READER_VALUE);
  const keys = await keyCount(master);
  const memory = (await info(masterClient, 'memory'))['used_memory_human'] ?? '?';
  term.line(
    `  ${count(keys)} keys over dbs ${DBS.join(', ')} (random 1000-byte values plus every data type), ` +
      `used_memory ${memory}, loaded in ${seconds(Date.now() - loadStart)}`,
  );
  const writer = startWriter(masterClient, { keyPrefix: 'demo:writer', intervalMs: 5 });
  owned.writer = writer;
  term.line('  a writer sends SET/INCR/LPUSH/HSET/EXPIRE pipelines to the master from now on');

  // 3. rbuddy ---------------------------------------------------------------------------------
  term.heading('3. Start rbuddy: it attaches the active by itself');
  const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-demo-state-'));
  owned.dirs.push(stateDir);
  // The same CLI an operator runs (`node dist/cli.js …`), here from source through tsx.
  const args = [
    '--master',
    master.address,
    '--active',
    server1.address,
    '--standby',
    server2.address,
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    '--grace-ms',
    String(SETTINGS.graceMs),
    '--drain-ms',
    String(SETTINGS.drainMs),
    '--probe-interval-ms',
    String(SETTINGS.probeIntervalMs),
    '--probe-timeout-ms',
    String(SETTINGS.probeTimeoutMs),
  ];
  term.line(term.paint('dim', `  $ rbuddy ${args.join(' ')}`));
  const rbuddyStart = Date.now();
  const rbuddy = await spawnRbuddy(args);
  owned.rbuddy = rbuddy;
  lastRbuddy = rbuddy;
  owned.pids.push({ what: 'rbuddy', pid: rbuddy.child.pid ?? -1 });
  term.line(
    `  rbuddy (pid ${rbuddy.child.pid}) relays on ${rbuddy.resp.host}:${rbuddy.resp.port}, ` +
      `status at ${rbuddy.httpUrl}/v1/status`,
  );
  const monitor = new FailoverMonitor(term, rbuddy, [r1, r2], t0);
  owned.monitor = monitor;
  monitor.extraLive = () => [
    ...(owned.reader === undefined ? [] : [readerLine(owned.reader, monitor)]),
    `${term.paint('dim', 'writer'.padEnd(9))}${term.paint('dim', writerText(writer))}`,
  ];
  monitor.addPipeTicker({
    everyMs: 2_000,
    line: () =>
      owned.reader === undefined
        ? undefined
        : { who: 'reader', colour: 'bold', text: readerText(owned.reader, monitor) },
  });
  monitor.start();

  const healthy = await untilStatus(
    monitor,
    'rbuddy to attach the active and report healthy',
    (s) =>
      s.state === 'healthy' &&
      monitor.session(r1)?.lastAck != null &&
      monitor.states.some((c) => c.to === 'healthy'),
  );
  const activeSynced = monitor.states.find((c) => c.to === 'healthy')?.at ?? Date.now();
  const firstSnap = monitor.sessions(r1).find((r) => r.snapshot !== null)?.snapshot ?? null;
  check(
    healthy.active === r1.address && healthy.standby === r2.address && healthy.epoch !== null,
    `rbuddy is healthy at epoch ${String(healthy.epoch)}: active replica1, standby replica2`,
  );
  check(
    firstSnap !== null &&
      firstSnap.size !== null &&
      firstSnap.transferred === firstSnap.size &&
      firstSnap.size >= DATASET_MIB * 1024 * 1024,
    `replica1 full-synced through rbuddy: a ${bytes(firstSnap?.size ?? 0)} snapshot relayed completely`,
  );
  const idle = await info(client2, 'replication');
  const idleKeys = await client2.dbsize();
  check(
    idle['role'] === 'master' && idleKeys === 0,
    `replica2 stands by as rbuddy made it: role ${String(idle['role'])}, ${idleKeys} keys`,
  );
  const epochBefore = healthy.epoch ?? -1;
  const guardBefore = (await client1.config('GET', 'min-replicas-to-write')) as string[];

  // 4. Reader ---------------------------------------------------------------------------------
  term.heading('4. A reader follows GET /active');
  const reader = new Reader(rbuddy.httpUrl, READER_KEY, READER_VALUE);
  owned.reader = reader;
  let targetsTold = 0;
  monitor.onTick = () => {
    for (const target of reader.targets.slice(targetsTold)) {
      monitor.notePast(
        target.firstAt,
        'reader',
        'bold',
        `${targetsTold === 0 ? 'reads' : 'moved: now reads'} ${monitor.nameOf(target.address)} (${target.url}, as GET /active says)`,
        targetsTold === 0 ? undefined : 'green',
      );
      targetsTold += 1;
    }
  };
  monitor.note('reader', 'bold', `starts: GET ${rbuddy.httpUrl}/active, then GET ${READER_KEY}`);
  await waitFor(() => reader.served >= READS_PER_STAGE, {
    what: `the reader to serve ${READS_PER_STAGE} reads`,
    timeoutMs: STEP_TIMEOUT_MS,
  });
  monitor.note('reader', 'bold', readerText(reader, monitor));

  // 5. Kill the master ------------------------------------------------------------------------
  term.heading('5. BGSAVE, then kill -9 the master');
  monitor.flush();
  // BGSAVE, not SAVE: SAVE blocks the master for as long as it writes (seconds for this dataset),
  // and rbuddy's 250 ms health probe rightly takes a master that does not answer for dead.
  const saveStart = Date.now();
  const savesBefore = Number((await info(masterClient, 'persistence'))['rdb_saves']);
  await masterClient.bgsave();
  await waitFor(
    async () => {
      const p = await info(masterClient, 'persistence');
      if (p['rdb_last_bgsave_status'] !== 'ok') throw new Error('BGSAVE failed');
      return p['rdb_bgsave_in_progress'] === '0' && Number(p['rdb_saves']) > savesBefore;
    },
    { what: 'the BGSAVE to finish', timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
  );
  monitor.note(
    'master',
    'red',
    `BGSAVE: dump.rdb written in ${seconds(Date.now() - saveStart)}, the master serving all along`,
  );
  expectedDown.add(master);
  const killedAt = Date.now();
  monitor.note('master', 'red', `kill -9 ${master.pid}`, 'red');
  await master.kill9();
  const promotedStatus = await untilStatus(
    monitor,
    'the active to be promoted and the standby attached',
    (s) => s.failover?.step === 'syncing',
  );
  const promoted = await info(client1, 'replication');
  const promotedKeys = await keyCount(server1);
  check(
    promoted['role'] === 'master' && promotedKeys >= keys,
    `replica1 promoted: role ${String(promoted['role'])}, still holding ${count(promotedKeys)} keys`,
  );
  const refused = await client1.set('demo:write-to-promoted', 'x').then(
    () => 'accepted',
    (error: unknown) => message(error),
  );
  check(
    /NOREPLICAS/.test(refused),
    `a write to the promoted active fails loudly: ${refused.split('\n')[0] ?? ''}`,
  );
  check(
    promotedStatus.state === 'failing-over',
    `rbuddy is ${promotedStatus.state}: ${promotedStatus.reason ?? ''}`,
  );
  const servedAtPromotion = reader.served;
  await waitFor(() => reader.served >= servedAtPromotion + READS_PER_STAGE, {
    what: 'the reader to go on reading from the promoted active',
    timeoutMs: STEP_TIMEOUT_MS,
  });
  monitor.note(
    'reader',
    'bold',
    `still served while the master is away (stale reads): ${readerText(reader, monitor)}`,
  );

  // 6. The master comes back ------------------------------------------------------------------
  term.heading('6. Bring the master back: the standby full-syncs through rbuddy');
  monitor.flush();
  const restartAt = Date.now();
  monitor.note('master', 'red', 'redis-server restarts on the same port and dir');
  await master.restart();
  expectedDown.delete(master);
  owned.pids.push({ what: 'redis-server master (restarted)', pid: master.pid });
  const masterBackAt = Date.now();
  const keysBack = await keyCount(master);
  monitor.note(
    'master',
    'red',
    `answers PING again (pid ${master.pid}): dump.rdb loaded, ${count(keysBack)} keys, ` +
      `${seconds(masterBackAt - restartAt)} after the restart`,
    'green',
  );
  const done = await untilStatus(
    monitor,
    'the standby to sync, the roles to switch and the old active to be flushed',
    (s) =>
      s.state === 'healthy' &&
      s.epoch === epochBefore + 1 &&
      s.failover === null &&
      s.lastFailover?.result === 'completed' &&
      monitor.events.some((e) => e.type === 'standby.ready' && e.at >= killedAt) &&
      monitor.states.at(-1)?.to === 'healthy',
  );
  const healthyAgainAt = monitor.states.at(-1)?.at;
  const servedAtSwitch = reader.served;
  await waitFor(() => reader.served >= servedAtSwitch + READS_PER_STAGE, {
    what: 'the reader to read from the new active',
    timeoutMs: STEP_TIMEOUT_MS,
  });

  // 7. Verify ---------------------------------------------------------------------------------
  term.heading('7. Stop the reader and the writer, compare the datasets');
  await reader.stop();
  owned.reader = undefined;
  const writes = await writer.stop();
  owned.writer = undefined;
  monitor.note('reader', 'bold', `stopped: ${readerText(reader, monitor)}`);
  monitor.note('writer', 'dim', `stopped: ${writerText(writer)}`);
  monitor.flush();

  check(
    done.active === r2.address && done.standby === r1.address,
    `roles switched at epoch ${String(done.epoch)}: active ${monitor.nameOf(done.active)}, standby ${monitor.nameOf(done.standby)}`,
  );
  // INFO only while rbuddy watches: DEBUG DIGEST blocks the master for seconds on this dataset,
  // which the demo's 250 ms probe and 2 s grace would rightly take for a dead master.
  const caughtUp = await waitForCaughtUp(master, server2).then(
    () => undefined,
    (error: unknown) => message(error),
  );
  check(
    caughtUp === undefined,
    caughtUp ?? "replica2 (the new active) caught up: the master's replid, at its offset",
  );
  const retired = await info(client1, 'replication');
  const retiredKeys = await client1.dbsize();
  check(
    retired['role'] === 'master' && retiredKeys === 0,
    `replica1 flushed and standing by: role ${String(retired['role'])}, ${retiredKeys} keys`,
  );
  // Both replicas start with the same settings: the new active has its own back, the new
  // standby refuses writes (whatever were written there would be flushed by its next sync).
  const guardAfter = (await client2.config('GET', 'min-replicas-to-write')) as string[];
  check(
    JSON.stringify(guardAfter) === JSON.stringify(guardBefore),
    `replica2's own settings restored: min-replicas-to-write ${String(guardAfter[1])}`,
  );
  const standbyRefuses = await client1.set('demo:standby-write', 'x').then(
    () => false,
    (error: Error) => error.message.startsWith('NOREPLICAS'),
  );
  check(standbyRefuses, 'replica1, the new standby, refuses writes (-NOREPLICAS)');
  const doneAt = healthyAgainAt ?? Date.now();
  const during = <T extends { at: number }>(list: readonly T[]): T[] =>
    list.filter((x) => x.at >= killedAt && x.at <= doneAt);
  const states = [
    monitor.states.filter((c) => c.at < killedAt).at(-1)?.to ?? '?',
    ...during(monitor.states).map((c) => c.to),
  ];
  check(states.join(' ') === EXPECTED_STATES.join(' '), `rbuddy's states: ${states.join(' → ')}`);
  const events = during(monitor.events);
  const eventTypes = events.map((e) => e.type);
  const unexpected = events.filter((e) => !(EXPECTED_EVENTS as readonly string[]).includes(e.type));
  check(
    eventTypes.join(' ') === EXPECTED_EVENTS.join(' '),
    eventTypes.join(' ') === EXPECTED_EVENTS.join(' ')
      ? `events from the kill to healthy: ${eventTypes.join(', ')}`
      : `events from the kill to healthy: ${eventTypes.join(', ')}; expected ${EXPECTED_EVENTS.join(', ')}` +
          unexpected.map((e) => `; unexpected ${e.type} (${e.reason ?? 'no reason'})`).join(''),
  );
  const ids = new Set(monitor.events.map((e) => e.id));
  check(
    ids.size === monitor.events.length && monitor.events.every((e) => e.id !== '?'),
    `${monitor.events.length} events logged by rbuddy in all, each with its own id`,
  );
  const timeline = done.lastFailover?.timeline.map((t) => t.step) ?? [];
  check(
    timeline.join(' ') === EXPECTED_TIMELINE.join(' '),
    `/v1/status lastFailover.timeline: ${timeline.join(' → ')}`,
  );
  const targets = reader.targets.map((t) => monitor.nameOf(t.address));
  check(
    targets.join(' ') === 'replica1 replica2',
    `the reader read from ${targets.join(', then ')}`,
  );
  check(
    reader.failed === 0,
    `reads: ${count(reader.served)} served, ${count(reader.failed)} failed` +
      (reader.failures.length === 0
        ? ''
        : ` (${reader.failures
            .slice(0, 3)
            .map((f) => `${seconds(f.at - t0)}: ${f.error}`)
            .join('; ')})`),
  );
  const standbySnap =
    monitor.sessions(r2).find((r) => r.reply === 'fullresync' && r.snapshot !== null)?.snapshot ??
    null;
  check(
    standbySnap !== null &&
      standbySnap.size !== null &&
      standbySnap.transferred === standbySnap.size &&
      standbySnap.size >= DATASET_MIB * 1024 * 1024,
    `replica2 full-synced through rbuddy: a ${bytes(standbySnap?.size ?? 0)} snapshot relayed completely`,
  );
  const final = await monitor.poll();
  const later = monitor.events.filter((e) => e.at > doneAt);
  check(
    final?.state === 'healthy' && later.length === 0,
    `rbuddy still ${String(final?.state)}, no event since` +
      later.map((e) => `; then ${e.type} (${e.reason ?? 'no reason'})`).join(''),
  );
  await monitor.stop();
  owned.monitor = undefined;

  // Summary ----------------------------------------------------------------------------------
  const eventAt = (type: (typeof EXPECTED_EVENTS)[number]): number | undefined =>
    events.find((e) => e.type === type)?.at;
  // The drain is timed from the persisted switch, which comes just before its events.
  const stepAt = (step: string): number | undefined => {
    const at = done.lastFailover?.timeline.find((t) => t.step === step)?.at;
    return at === undefined ? undefined : Date.parse(at);
  };
  // A clean stop is part of the contract too: SIGTERM, sessions closed, exit 0.
  owned.rbuddy = undefined;
  rbuddy.child.kill('SIGTERM');
  const exitCode = await rbuddy.exit(15_000).catch(() => 'no exit within 15 s');
  check(exitCode === 0, `rbuddy stopped on SIGTERM with exit code ${String(exitCode)}`);

  // Nothing watches the master now: DEBUG DIGEST may block it as long as it takes.
  const [masterDigest, newActiveDigest] = await Promise.all([
    digest(master.client()),
    digest(client2),
  ]);
  check(
    masterDigest === newActiveDigest,
    `DEBUG DIGEST: master ${masterDigest.slice(0, 16)}…, replica2 ${newActiveDigest.slice(0, 16)}…`,
  );

  summarise({
    rows: [
      [
        'rbuddy started → replica1 synced, healthy',
        span(rbuddyStart, activeSynced),
        snapText(firstSnap),
      ],
      [
        'master killed → master.down',
        span(killedAt, eventAt('master.down')),
        (events.find((e) => e.type === 'master.down')?.reason ?? '').split(':')[0] ?? '',
      ],
      [
        'master killed → active promoted',
        span(killedAt, eventAt('active.promoted')),
        `grace ${seconds(SETTINGS.graceMs)}; replica1 serves stale reads`,
      ],
      [
        'master restarted → answers (RDB loaded)',
        span(restartAt, masterBackAt),
        `${count(keysBack)} keys`,
      ],
      [
        'master back → standby synced',
        span(masterBackAt, eventAt('standby.synced')),
        snapText(standbySnap),
      ],
      [
        'standby synced → switch',
        span(eventAt('standby.synced'), eventAt('failover.completed')),
        `epoch ${epochBefore} → ${String(done.epoch)}, active replica1 → replica2`,
      ],
      [
        'switch → reader on the new active',
        span(eventAt('failover.completed'), reader.targets[1]?.firstAt),
        'its next GET /active',
      ],
      [
        'switch → old active flushed',
        span(stepAt('switched'), stepAt('flushed')),
        `drain ${seconds(SETTINGS.drainMs)}; replica1 empty, standing by`,
      ],
      ['master killed → healthy again', span(killedAt, healthyAgainAt), `state ${done.state}`],
      ['whole demo so far', span(t0, Date.now()), ''],
    ],
    reads: reader,
    monitor,
    writes,
    writerErrors: writer.errors,
    digests: { master: masterDigest, active: newActiveDigest },
  });
}

// ---- pieces of the story ----------------------------------------------------------------------

/** Polls /v1/status until `accept` holds; on timeout, says where rbuddy stood. */
async function untilStatus(
  monitor: FailoverMonitor,
  what: string,
  accept: (status: AppStatus) => boolean,
): Promise<AppStatus> {
  try {
    return await waitFor(
      async () => {
        const status = await monitor.poll();
        return status !== undefined && accept(status) ? status : undefined;
      },
      { what, timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
    );
  } catch (error) {
    const s = monitor.status;
    const where =
      s === undefined
        ? 'no status from rbuddy'
        : `rbuddy ${s.state} (${s.reason ?? 'no reason'}), epoch ${String(s.epoch)}, ` +
          `failover step ${s.failover?.step ?? 'none'}, last error ${s.lastError ?? 'none'}`;
    throw new Error(`${message(error)}; ${where}`, { cause: error });
  }
}

/** Waits until INFO on `replica` says it follows the master's history up to its offset. */
async function waitForCaughtUp(master: RedisServer, replica: RedisServer): Promise<void> {
  const masterClient = master.client();
  const replicaClient = replica.client();
  try {
    const outcome = await waitFor(
      async () => {
        const m = await info(masterClient, 'replication');
        const r = await info(replicaClient, 'replication');
        const loading = (await info(replicaClient, 'persistence'))['loading'];
        // Waiting would not help: someone (rbuddy) made it a master again.
        if (r['role'] === 'master') return { detached: true };
        return (
          r['master_link_status'] === 'up' &&
          loading === '0' &&
          r['master_replid'] === m['master_replid'] &&
          Number(r['master_repl_offset']) >= Number(m['master_repl_offset'])
        );
      },
      { what: `${replica.name} to catch up with the master`, timeoutMs: STEP_TIMEOUT_MS },
    );
    if (typeof outcome === 'object') {
      throw new Error(`${replica.name} is no longer a replica (role master): it was detached`);
    }
  } finally {
    masterClient.disconnect();
    replicaClient.disconnect();
  }
}

async function keyCount(server: RedisServer): Promise<number> {
  let keys = 0;
  for (const db of DBS) {
    const conn: Redis = server.client({ db });
    keys += await conn.dbsize();
    conn.disconnect();
  }
  return keys;
}

function readerText(reader: Reader, monitor: FailoverMonitor): string {
  const where =
    reader.current === undefined ? '' : ` · reading ${monitor.nameOf(reader.current.address)}`;
  return `${count(reader.served)} served · ${count(reader.failed)} failed${where}`;
}

function readerLine(reader: Reader, monitor: FailoverMonitor): string {
  const tone = reader.failed === 0 ? 'green' : 'red';
  return `${term.paint('bold', 'reader'.padEnd(9))}${term.paint(tone, readerText(reader, monitor))}`;
}

function writerText(writer: Writer): string {
  const errors =
    writer.errors === 0 ? '' : ` · ${count(writer.errors)} failed while the master was down`;
  return `${count(writer.writes)} writes acknowledged by the master${errors}`;
}

function span(from: number | undefined, to: number | undefined): string {
  return from === undefined || to === undefined ? '—' : seconds(to - from);
}

function snapText(snap: SessionStatus['snapshot']): string {
  if (snap === null) return 'no snapshot seen';
  const took =
    snap.finishedAt === null ? undefined : Date.parse(snap.finishedAt) - Date.parse(snap.startedAt);
  return `${bytes(snap.size ?? snap.transferred)} snapshot relayed in ${took === undefined ? '—' : seconds(took)}`;
}

interface SummaryInput {
  rows: string[][];
  reads: Reader;
  monitor: FailoverMonitor;
  writes: number;
  writerErrors: number;
  digests: { master: string; active: string };
}

function summarise(input: SummaryInput): void {
  term.heading('Summary');
  const { reads, monitor } = input;
  const perTarget = reads.targets
    .map((t) => `${monitor.nameOf(t.address)} ${count(t.served)}`)
    .join(', then ');
  const failed = `${count(reads.failed)} failed`;
  const rows: string[][] = [
    ['step', 'took', ''],
    ...input.rows,
    ['', '', ''],
    [
      'reads through GET /active',
      `${count(reads.served)} served`,
      reads.failed === 0 ? term.paint('green', failed) : term.paint('red', failed),
    ],
    ['reads per replica', perTarget, ''],
    [
      'writes to the master',
      `${count(input.writes)} acknowledged`,
      `${count(input.writerErrors)} failed while it was down (expected)`,
    ],
    [
      'DEBUG DIGEST master / new active',
      input.digests.master === input.digests.active
        ? term.paint('green', 'equal')
        : term.paint('red', 'DIFFERENT'),
      `${input.digests.master.slice(0, 16)} / ${input.digests.active.slice(0, 16)}`,
    ],
  ];
  for (const line of table(rows)) term.line(`  ${line}`.trimEnd());
  term.line();
}

// ---- the ways out -----------------------------------------------------------------------------

let finishing: Promise<never> | undefined;

type Outcome =
  | { kind: 'done' }
  | { kind: 'failed'; reason: string }
  | { kind: 'interrupted'; signal: NodeJS.Signals; code: number };

/** Stops what this run started (and only that), checks it is gone, prints the verdict, exits. */
function finish(outcome: Outcome): Promise<never> {
  finishing ??= (async () => {
    try {
      await owned.monitor?.stop();
    } catch {
      // The timeline is cosmetic; cleanup must go on.
    }
    if (outcome.kind === 'interrupted') {
      term.line();
      term.line(term.paint('yellow', `${outcome.signal}: stopping everything this demo started`));
    }
    if (outcome.kind === 'failed') {
      term.line();
      term.line(term.paint('red', `FAILED: ${outcome.reason}`));
      diagnose();
    }
    if (
      outcome.kind !== 'interrupted' &&
      (outcome.kind === 'failed' || checks.some((c) => !c.ok))
    ) {
      const kept = keepLogs();
      if (kept !== undefined) term.line(term.paint('yellow', `logs of this run kept in ${kept}`));
    }
    term.line();
    term.line(term.paint('dim', 'cleaning up: reader, writer, rbuddy, redis-servers, temp dirs'));
    const cleanupProblems = await cleanup();
    if (cleanupProblems.length === 0) {
      const processes = owned.pids.map((p) => `${p.what} (pid ${p.pid})`).join(', ');
      check(true, `cleanup: ${processes || 'no process started'} gone; temp dirs removed`);
    } else {
      for (const problem of cleanupProblems) check(false, `cleanup: ${problem}`);
    }
    const failed = checks.filter((c) => !c.ok);
    const total = seconds(Date.now() - t0);
    term.line();
    if (outcome.kind === 'interrupted') {
      term.line(term.paint('yellow', `INTERRUPTED (${total}): the demo did not finish`));
      process.exit(outcome.code);
    }
    if (outcome.kind === 'done' && failed.length === 0) {
      term.line(term.paint('green', `PASS: all ${checks.length} checks held (${total}).`));
      process.exit(0);
    }
    const why = outcome.kind === 'failed' ? outcome.reason : failed.map((c) => c.text).join('; ');
    term.line(term.paint('red', `FAIL (${total}): ${why}`));
    process.exit(1);
  })();
  return finishing;
}

/** After a failure: the last words of every process involved, to see why. */
function diagnose(): void {
  const show = (title: string, text: string): void => {
    if (text.trim() === '') return;
    term.line(term.paint('dim', title));
    for (const line of text.trimEnd().split('\n')) {
      const cut = line.length > 240 ? `${line.slice(0, 240)}…` : line;
      term.line(term.paint('dim', `    ${cut}`));
    }
  };
  const rbuddy = owned.rbuddy ?? lastRbuddy;
  if (rbuddy !== undefined) {
    const logs = rbuddy
      .logs()
      .slice(-15)
      .map((line) => JSON.stringify(line))
      .join('\n');
    show("  rbuddy's last log lines:", logs);
    show("  rbuddy's stderr:", rbuddy.stderr().split('\n').slice(-5).join('\n'));
  }
  for (const server of owned.servers) show(`  ${server.name}'s log:`, server.logTail(6));
}

/** After a failure: rbuddy's whole log and the Redis logs, in one file that outlives the run. */
function keepLogs(): string | undefined {
  const rbuddy = owned.rbuddy ?? lastRbuddy;
  const parts: string[] = [];
  if (rbuddy !== undefined) {
    parts.push('# rbuddy log (JSON lines)', ...rbuddy.logs().map((line) => JSON.stringify(line)));
    parts.push('# rbuddy stderr', rbuddy.stderr());
  }
  for (const server of owned.servers) parts.push(`# ${server.name} log`, server.logTail(500));
  const file = join(tmpdir(), `rbuddy-demo-${process.pid}.log`);
  try {
    writeFileSync(file, `${parts.join('\n')}\n`);
    return file;
  } catch {
    return undefined;
  }
}

async function cleanup(): Promise<string[]> {
  const problems: string[] = [];
  const reader = owned.reader;
  owned.reader = undefined;
  if (reader !== undefined)
    await Promise.race([reader.stop().catch(() => undefined), sleep(3_000)]);
  const writer = owned.writer;
  owned.writer = undefined;
  // A writer whose server is gone fails its batch and stops; never wait on it for long.
  if (writer !== undefined) await Promise.race([writer.stop().catch(() => 0), sleep(3_000)]);
  const rbuddy = owned.rbuddy;
  owned.rbuddy = undefined;
  if (rbuddy !== undefined) {
    await terminate(rbuddy.child, 5_000).catch((error: unknown) => {
      problems.push(`rbuddy: ${message(error)}`);
    });
  }
  // stopAllRedis stops only the servers startRedis started here, by their own PIDs.
  await stopAllRedis().catch((error: unknown) => {
    problems.push(message(error));
  });
  for (const dir of owned.dirs) rmSync(dir, { recursive: true, force: true });
  for (const { what, pid } of owned.pids) {
    if (pid > 0 && isPidAlive(pid)) problems.push(`${what} (pid ${pid}) is still running`);
  }
  for (const dir of [...owned.dirs, ...owned.servers.map((s) => s.dir)]) {
    if (existsSync(dir)) problems.push(`${dir} still exists`);
  }
  return problems;
}

function onSignal(signal: 'SIGINT' | 'SIGTERM', code: number): void {
  process.on(signal, () => {
    if (finishing !== undefined) {
      // A second signal while cleaning up: stop waiting, kill what is left, go.
      killTrackedNow();
      process.exit(code);
    }
    void finish({ kind: 'interrupted', signal, code });
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Installed before any child exists, so they run first on Ctrl-C. (processes.ts adds its own
// last-resort SIGKILL of every child this process started, and an exit hook for temp dirs.)
onSignal('SIGINT', 130);
onSignal('SIGTERM', 143);

// A process of ours that dies unasked ends the demo at once, with the reason, instead of leaving
// a step to wait for its timeout.
let reportDeath: (error: Error) => void = () => undefined;
const death = new Promise<never>((_, reject) => {
  reportDeath = reject;
});
setInterval(() => {
  if (finishing !== undefined) return;
  for (const server of owned.servers) {
    if (server.exited && !expectedDown.has(server)) {
      reportDeath(
        new Error(
          `redis-server ${server.name} (pid ${server.pid}) exited unexpectedly; ` +
            `its log ends with: ${server.logTail(3).replace(/\n/g, ' | ')}`,
        ),
      );
    }
  }
  const rbuddy = owned.rbuddy;
  if (rbuddy !== undefined && hasExited(rbuddy.child)) {
    const how = rbuddy.child.signalCode ?? `exit code ${String(rbuddy.child.exitCode)}`;
    reportDeath(new Error(`rbuddy (pid ${rbuddy.child.pid}) exited unexpectedly (${how})`));
  }
}, 250).unref();

Promise.race([story(), death]).then(
  () => finish({ kind: 'done' }),
  (error: unknown) => finish({ kind: 'failed', reason: message(error) }),
);
