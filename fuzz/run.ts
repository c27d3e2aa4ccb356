// `npm run fuzz -- --cases N [--seed S] [--concurrency C] [--only I] [--rss-limit-mb M]`:
// generated RESP and HTTP inputs against the built rbuddy CLI while a replica streams through it
// (fuzz/live-target.ts). Every input is a function of the seed and its case number, so a run is
// replayed with the seed it prints, and one case with `--only I`. One case in 600 is the attack the
// RESP port's input budget is for (fuzz/budget-case.ts): a few hundred connections at once, each
// holding an incomplete command as large as it may, which rbuddy must close past its budget.
//
// The last line is `fuzz: N cases, P crashes, peak RSS M MB, stream intact` (or `stream BROKEN:
// <why>`); the exit code is non-zero on a crash, a broken stream, a connection rbuddy kept open
// after the fuzzer closed its side, or an RSS over the limit.
import { randomInt } from 'node:crypto';
import { casePrng, type Prng } from './prng.js';
import { deliver, type Outcome } from './send.js';
import { httpInput } from './http-inputs.js';
import { startLiveTarget, type LiveTarget } from './live-target.js';
import { respInput } from './resp-inputs.js';
import { splitPoints } from './mutate.js';
import { isBudgetCase, runBudgetCase } from './budget-case.js';
import { exitWhenFlushed } from '../harness/processes.js';

interface Options {
  cases: number;
  seed: number;
  concurrency: number;
  only: number | undefined;
  rssLimitMb: number;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    cases: 10_000,
    seed: randomInt(2 ** 31),
    concurrency: 16,
    only: undefined,
    rssLimitMb: 256,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, text = ''] = [argv[i], argv[i + 1]];
    const value = Number(text);
    if (!/^[0-9]+$/.test(text))
      usage(`${String(flag)} needs a whole number, got ${JSON.stringify(text)}`);
    if (flag === '--cases') options.cases = value;
    else if (flag === '--seed') options.seed = value;
    else if (flag === '--concurrency') options.concurrency = Math.max(1, Math.min(value, 64));
    else if (flag === '--only') options.only = value;
    else if (flag === '--rss-limit-mb') options.rssLimitMb = value;
    else usage(`unknown option ${String(flag)}`);
  }
  return options;
}

function usage(problem: string): never {
  console.error(`fuzz: ${problem}`);
  console.error(
    'usage: npm run fuzz -- [--cases N] [--seed S] [--concurrency C] [--only I] [--rss-limit-mb M]',
  );
  process.exit(2);
}

/** rbuddy's log lines name their level ("error", "fatal"), not pino's numbers. */
const isError = (line: Record<string, unknown>): boolean =>
  line.level === 'error' || line.level === 'fatal';

interface Tally {
  resp: number;
  http: number;
  connections: number;
  hangs: number[];
  refused: number;
  /** The input-budget cases (fuzz/budget-case.ts): how many, their connections, how they ended. */
  budget: { cases: number; connections: number; holding: number; closed: number; noAuth: number };
}

/**
 * Each connection comes from a random address of 127.0.0.0/8 other than 127.0.0.1 (the
 * replicas'): a stranger, and a spray of addresses, so that the wrong passwords the mutations
 * make slow down (the AUTH throttle counts per address) only the few cases that share one.
 */
const localAddress = (rng: Prng): string =>
  `127.${rng.range(1, 254)}.${rng.range(0, 255)}.${rng.range(1, 254)}`;
const CLOSE_TIMEOUT_MS = 15_000;
/** One case in this many opens a burst of connections at once (bounded: see --max-clients). */
const BURST_EVERY = 400;
const BURST_SIZE = 20;
/** How a case ends: mostly a FIN, some dropped at once, one in a hundred held open a while. */
const ENDINGS: ReadonlyArray<'fin' | 'destroy' | 'hold'> = [
  ...Array<'fin'>(84).fill('fin'),
  ...Array<'destroy'>(15).fill('destroy'),
  'hold',
];

async function runCase(
  target: LiveTarget,
  seed: number,
  index: number,
  tally: Tally,
): Promise<void> {
  const rng = casePrng(seed, index);
  const resp = target.rbuddy.resp;
  if (isBudgetCase(index)) {
    const hogs = await runBudgetCase(
      rng,
      { host: resp.host, port: resp.port, password: target.password },
      () => localAddress(rng),
      CLOSE_TIMEOUT_MS,
    );
    tally.budget.cases += 1;
    tally.budget.connections += hogs.opened;
    tally.budget.holding += hogs.holding;
    tally.budget.closed += hogs.closedByBudget;
    tally.budget.noAuth += hogs.authRefused;
    tally.connections += hogs.opened;
    tally.refused += hogs.refused;
    if (hogs.hangs > 0) tally.hangs.push(index);
    return;
  }
  const http = new URL(target.rbuddy.httpUrl);
  const one = async (): Promise<Outcome> => {
    const isResp = rng.chance(0.6);
    const input = isResp
      ? respInput(rng, {
          password: target.password,
          replicaPorts: [target.active.port, target.standby.port],
        })
      : httpInput(rng, { authority: http.host });
    if (isResp) tally.resp += 1;
    else tally.http += 1;
    tally.connections += 1;
    return deliver(rng, {
      host: isResp ? resp.host : http.hostname,
      port: isResp ? resp.port : Number(http.port),
      localAddress: localAddress(rng),
      input,
      cuts: splitPoints(rng, input.length),
      ending: rng.pick(ENDINGS),
      holdMs: rng.range(100, 3_000),
      closeTimeoutMs: CLOSE_TIMEOUT_MS,
    });
  };
  const burst = rng.int(BURST_EVERY) === 0 ? BURST_SIZE : 1;
  const outcomes = await Promise.all(Array.from({ length: burst }, one));
  if (outcomes.includes('hang')) tally.hangs.push(index);
  tally.refused += outcomes.filter((o) => o === 'refused').length;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const { seed } = options;
  const indices =
    options.only === undefined
      ? Array.from({ length: options.cases }, (_, i) => i)
      : [options.only];
  console.log(`fuzz: seed ${seed}, ${indices.length} cases, ${options.concurrency} at a time`);
  const target = await startLiveTarget();
  console.log(`fuzz: rbuddy (node dist/cli.js) pid ${target.pid}, a replica streaming through it`);
  const tally: Tally = {
    resp: 0,
    http: 0,
    connections: 0,
    hangs: [],
    refused: 0,
    budget: { cases: 0, connections: 0, holding: 0, closed: 0, noAuth: 0 },
  };
  const inFlight = new Set<number>();
  let exit: { code: number | null; signal: NodeJS.Signals | null; inFlight: number[] } | undefined;
  // 'close', not 'exit': by then rbuddy's last log lines (its crash report) have been read.
  const closed = new Promise<void>((resolve) => target.rbuddy.child.once('close', () => resolve()));
  target.rbuddy.child.once('exit', (code, signal) => {
    exit = { code, signal, inFlight: [...inFlight] };
  });
  let next = 0;
  let done = 0;
  const started = performance.now();
  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `fuzz: ${done}/${indices.length} cases, ${Math.round(done / seconds)}/s, ` +
        `peak RSS ${Math.round(target.peakRss() / 2 ** 20)} MB\n`,
    );
  }, 10_000);
  const worker = async (): Promise<void> => {
    while (exit === undefined && next < indices.length) {
      const index = indices[next] ?? 0;
      next += 1;
      inFlight.add(index);
      await runCase(target, seed, index, tally);
      inFlight.delete(index);
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;

  const crashes = exit === undefined ? 0 : 1;
  if (exit !== undefined) {
    await closed;
    const last = target.rbuddy.logs().filter(isError).slice(-3);
    console.log(
      `fuzz: CRASH: rbuddy exited (code ${String(exit.code)}, signal ${String(exit.signal)})`,
    );
    for (const line of last) console.log(`fuzz:   ${JSON.stringify(line)}`);
    console.log(`fuzz:   stderr: ${target.rbuddy.stderr().slice(-2_000)}`);
    console.log(
      `fuzz:   cases in flight: ${exit.inFlight.join(', ')} (replay one: --seed ${seed} --only I)`,
    );
  }
  const broken = await target.checkStream();
  const peakMb = Math.round(target.peakRss() / 2 ** 20);
  const errors = target.rbuddy.logs().filter(isError);
  await target.stop();

  console.log(
    `fuzz: ${tally.resp} RESP and ${tally.http} HTTP inputs on ${tally.connections} connections ` +
      `in ${seconds.toFixed(0)} s (${Math.round(done / seconds)} cases/s); ` +
      `${tally.refused} connections refused`,
  );
  const { budget } = tally;
  console.log(
    `fuzz: input budget: ${budget.cases} cases, ${budget.connections} connections, ` +
      `${budget.holding} sent a whole incomplete command, ${budget.closed} closed by the budget` +
      (budget.noAuth > 0 ? `, ${budget.noAuth} refused AUTH` : ''),
  );
  console.log(
    `fuzz: rbuddy logged ${errors.length} errors${errors.length > 0 ? `, first: ${JSON.stringify(errors[0]?.msg)}` : ''}`,
  );
  if (tally.hangs.length > 0) {
    console.log(
      `fuzz: HANG: rbuddy kept ${tally.hangs.length} connection(s) open ${CLOSE_TIMEOUT_MS / 1000} s ` +
        `after the fuzzer's FIN: cases ${tally.hangs.slice(0, 20).join(', ')}`,
    );
  }
  // rbuddy listens on loopback for the whole run: a refused connection while it lives means a
  // listener stopped accepting (closed, or its backlog overflowed), a failure like a hang.
  const refused = exit === undefined && tally.refused > 0;
  if (refused) {
    console.log(
      `fuzz: REFUSED: ${tally.refused} connection(s) refused while rbuddy was running: a listener stopped accepting`,
    );
  }
  const rssOver = peakMb > options.rssLimitMb;
  if (rssOver) console.log(`fuzz: RSS over the limit: ${peakMb} MB > ${options.rssLimitMb} MB`);
  console.log(`fuzz: replay with --seed ${seed}`);
  console.log(
    `fuzz: ${done} cases, ${crashes} crashes, peak RSS ${peakMb} MB, ` +
      (broken === undefined ? 'stream intact' : `stream BROKEN: ${broken}`),
  );
  return crashes > 0 || broken !== undefined || rssOver || refused || tally.hangs.length > 0
    ? 1
    : 0;
}

main().then(
  (code) => exitWhenFlushed(code),
  (error: unknown) => {
    console.error(
      `fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    exitWhenFlushed(1);
  },
);
