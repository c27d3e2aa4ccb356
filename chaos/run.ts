// `npm run chaos -- --minutes N --seed S`: the topology of chaos/topology.ts under a seeded
// schedule of overlapping faults, the invariants checked while it runs and over the history at
// the end, a live progress line on stderr, then the report. Exit 1 on any violation or failed
// read, 2 on bad arguments.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exitWhenFlushed, hasExited, leaveCtrlCToCaller } from '../harness/processes.js';
import { stopAllRedis } from '../harness/redis-server.js';
import { Checker } from './checker.js';
import { DIGEST_CHECK, digestCheck } from './digest.js';
import { FAULTS, type FaultKind } from './faults.js';
import { FRESH_BOUND, WriterAcks } from './freshness.js';
import { finalChecks, redeliveries, runWasReal, settle } from './final-checks.js';
import { History } from './history.js';
import { Observer } from './observer.js';
import { createPrng, randomSeed } from './prng.js';
import { startActiveReader, startSentinelReader } from './readers.js';
import { report, summaryLine } from './report.js';
import { Schedule } from './schedule.js';
import { ChaosTopology } from './topology.js';

const DEFAULT_MINUTES = 3;
const DIGEST_EVERY_MS = 15_000;
/** A calm window every 45 s of schedule time, of at most 30 s (chaos/schedule.ts). */
const CALM_EVERY_MS = 45_000;
const CALM_MAX_MS = 30_000;
/** Final digest checks begun before one is judged: each one a failover interrupted settles again. */
const FINAL_DIGEST_ATTEMPTS = 3;

interface Options {
  minutes: number;
  seed: number;
  keep: boolean;
  replicaRdb: boolean;
  /** Only these fault kinds (by name), the self-tests included. */
  only: string[] | undefined;
}

const USAGE =
  'usage: npm run chaos -- [--minutes N] [--seed S (a non-negative integer)] [--keep] [--replica-rdb] [--only KIND,KIND…]';

function options(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'replica-rdb': { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  });
  const minutes = values.minutes === undefined ? DEFAULT_MINUTES : Number(values.minutes);
  const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
  if (!(minutes > 0) || !Number.isInteger(seed) || seed < 0) throw new Error(USAGE);
  const only = values.only?.split(',').map((name) => name.trim());
  const unknown = only?.filter((name) => !FAULTS.some((kind) => kind.name === name)) ?? [];
  if (unknown.length > 0 || only?.length === 0) {
    throw new Error(
      `${USAGE}\nunknown fault kind ${unknown.join(', ')}; the kinds: ${FAULTS.map((k) => k.name).join(', ')}`,
    );
  }
  return {
    minutes,
    seed,
    keep: values.keep ?? false,
    replicaRdb: values['replica-rdb'] ?? false,
    only,
  };
}

/** Whether a fault kind is in the schedule: named in `--only`, or else drawn by default. */
function chosen(opts: Options): (kind: FaultKind) => boolean {
  return (kind) =>
    opts.only !== undefined
      ? opts.only.includes(kind.name)
      : kind.selftest !== true && (opts.replicaRdb || kind.optIn !== true);
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = options();
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 2;
  }
  const { minutes, seed } = opts;
  console.error(
    `chaos: seed ${seed}, ${minutes} min (replay: npm run chaos -- --minutes ${minutes} --seed ${seed})`,
  );
  const dir = mkdtempSync(join(tmpdir(), `rbuddy-chaos-${seed}-`));
  // Ctrl-C ends the schedule; the run then heals the faults, settles, checks and stops what it
  // started, in order, as at its end. The children are in process groups of their own, so the
  // terminal's SIGINT reaches this process only (killed by it, rbuddy would be a violation).
  leaveCtrlCToCaller();
  let stopping = false;
  let interruptedAt = 0;
  process.on('SIGINT', () => {
    if (!stopping) {
      stopping = true;
      interruptedAt = Date.now();
      console.error(
        '\nchaos: Ctrl-C: ending the schedule, healing the faults and settling (Ctrl-C again aborts)',
      );
      return;
    }
    // One Ctrl-C can arrive twice: from the terminal, and forwarded by npm to a shell that ran
    // node in its own place.
    if (Date.now() - interruptedAt < 1000) return;
    console.error(`chaos: aborted; the processes it started are killed; history and logs: ${dir}`);
    // The 'exit' hooks SIGKILL every child by PID (harness/processes.ts) and unmount the state dir.
    process.exit(130);
  });
  // SIGTERM or SIGHUP (a CI job's timeout, a closed terminal): no settling, but the same exit as
  // an abort, so that the 'exit' hooks run — the children killed by PID, the state dir's tmpfs
  // unmounted — instead of dying by the signal with the mount left behind.
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(
        `chaos: ${signal}: aborted; the processes it started are killed; history and logs: ${dir}`,
      );
      process.exit(signal === 'SIGTERM' ? 143 : 129);
    });
  }
  const history = new History(join(dir, 'history.jsonl'));
  const checker = new Checker(history);
  const topo = new ChaosTopology(dir);
  const acks = new WriterAcks();
  topo.onWriterAck = (seq) => acks.record(history.now(), seq);
  process.on('exit', () => topo.unmountState());
  topo.onRbuddyExit = (code, signal) => {
    checker.check(
      'rbuddy never exits on its own',
      false,
      `rbuddy exited: code ${code}, signal ${signal}`,
    );
  };
  await topo.start();
  if (!topo.stateMounted)
    console.error(
      'chaos: could not mount a tmpfs state dir (not root?): the state-dir faults are left out',
    );
  const observer = new Observer(topo, checker, history, acks);
  await observer.tick();
  const firstEpoch = observer.lastStatus?.epoch ?? null;
  observer.start();
  const readers = [
    startActiveReader(
      topo,
      checker,
      (asked, answered, node) => observer.fullSyncs.activeAnswer(asked, answered, node),
      { acks, epoch: () => observer.lastStatus?.epoch ?? null },
    ),
    startSentinelReader(topo, checker, () => observer.roleNames().active),
  ];
  const schedule = new Schedule(
    createPrng(seed),
    {
      topo,
      roles: () => observer.roleNames(),
      impair: (node) => checker.impair(node),
      healed: (node, backEmpty) => checker.healed(node, backEmpty),
      note: (message, data) => history.record('note', 'chaos', { data: { message, ...data } }),
    },
    checker,
    history,
    chosen(opts),
    {
      everyMs: CALM_EVERY_MS,
      maxMs: CALM_MAX_MS,
      // A read judged fresh against the master's acknowledgements and a digest, both since.
      reached: (since) =>
        (checker.lastJudged.get(FRESH_BOUND) ?? -1) >= since &&
        (checker.lastJudged.get(DIGEST_CHECK) ?? -1) >= since,
    },
  );
  const endAt = history.now() + minutes * 60_000;
  const progress = setInterval(
    () => {
      const status = observer.lastStatus;
      const line =
        `chaos ${clock(history.now())}/${clock(minutes * 60_000)} seed ${seed} | ` +
        `${[...checker.faults.values()].reduce((a, b) => a + b, 0)} faults [${schedule.runningKinds().join(',')}] | ` +
        `${checker.failovers} failovers | ${status?.state ?? '?'} epoch ${status?.epoch ?? '?'} | ` +
        `reads ${checker.reads.ok}+${checker.sentinelReads.ok} ok ${checker.reads.failed + checker.sentinelReads.failed} failed | ` +
        `${checker.checkCount} checks ${checker.violations.length} violations`;
      process.stderr.write(process.stderr.isTTY ? `\r${line.slice(0, 200)}\x1b[K` : `${line}\n`);
    },
    process.stderr.isTTY ? 1000 : 10_000,
  );
  let lastDigest = 0;
  const quietChecks = setInterval(() => {
    const now = history.now();
    const active = observer.lastStatus?.active;
    const quiet =
      schedule.running.size === 0 &&
      now - schedule.lastFaultEnd > 3000 &&
      observer.healthySince !== undefined &&
      now - observer.healthySince > 2000 &&
      observer.lastStatus?.sessions.some(
        (session) => session.replica === active && session.phase === 'streaming',
      ) === true;
    // In a calm window, one digest as soon as it is quiet, however recent the last.
    const calm = schedule.calmSince !== undefined && lastDigest < schedule.calmSince;
    const due = calm || now - lastDigest >= DIGEST_EVERY_MS;
    if (!quiet || schedule.hold || active == null || !due) return;
    schedule.hold = true;
    lastDigest = now;
    void digestCheck(topo, checker, active).finally(() => {
      schedule.hold = false;
    });
  }, 500);

  console.error('chaos: rbuddy is healthy: the schedule begins (Ctrl-C ends it and settles)');
  await schedule.run(endAt, () => stopping);
  clearInterval(quietChecks);
  await schedule.drain();
  // The last faults may call for a failover that begins only after rbuddy first says healthy (a
  // master restarted from its RDB refusing the active's PSYNC): settled again, a few times.
  let settled = await settle(topo, observer);
  for (let attempt = 1; settled === true; attempt++) {
    const active = observer.lastStatus?.active;
    if (active == null || (await digestCheck(topo, checker, active, true)) === 'done') break;
    if (attempt === FINAL_DIGEST_ATTEMPTS) {
      checker.check(
        DIGEST_CHECK,
        false,
        `rbuddy left healthy during each of ${FINAL_DIGEST_ATTEMPTS} final digest checks`,
      );
      break;
    }
    settled = await settle(topo, observer);
  }
  clearInterval(progress);
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const reader of readers) await reader.stop();
  await observer.stop();
  finalChecks(topo, checker, firstEpoch, settled);
  checker.check(
    'rbuddy never exits on its own',
    // Killed by a signal (SIGSEGV, the OOM killer), a process has no exit code either.
    topo.rbuddy !== undefined && !hasExited(topo.rbuddy.child),
  );
  runWasReal(topo, checker);
  checker.settleTimelines();
  const facts = {
    seed,
    minutes,
    dir,
    logs: [...topo.rbuddyLogPaths(), ...topo.replicas.map((r) => join(r.dir, 'redis.log'))],
    redeliveries: redeliveries(topo),
    replicaRdb: opts.replicaRdb,
    only: opts.only,
  };
  await topo.close();
  await stopAllRedis();
  const failed =
    checker.violations.length > 0 || checker.reads.failed + checker.sentinelReads.failed > 0;
  console.log(report(facts, checker));
  if (!failed && !opts.keep) rmSync(dir, { recursive: true, force: true });
  console.log(summaryLine(seed, checker));
  return failed ? 1 : 0;
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

main().then(
  (code) => exitWhenFlushed(code),
  (error: unknown) => {
    console.error(
      `chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    exitWhenFlushed(1);
  },
);
