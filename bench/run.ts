// `npm run bench`: the relay's cost, measured. Each figure is taken on the direct path
// (replica → master) and on the proxied one (replica → rbuddy → master), alternating the two
// (ABBA) so that drift on a shared machine hits both alike, and reported as the median of the
// repetitions. Prints a table, rewrites the results part of docs/benchmarks.md, and exits 0
// whatever the figures say: this is a measurement, not a test.
//
// Knobs (environment): RBUDDY_BENCH_MB (dataset, default 1024), RBUDDY_BENCH_SYNC_REPS (full
// syncs per path and snapshot mode, 4), RBUDDY_BENCH_REPS (runs per path of the streaming
// figures, 5), RBUDDY_BENCH_BURST (SETs per burst, 200000), RBUDDY_BENCH_WAIT_N (WAITs per
// run, 5000),
// RBUDDY_BENCH_WRITE_RATE (steady writes/s during the WAITs, 10000), RBUDDY_BENCH_DISKLESS
// (auto | yes | no; auto runs the diskless syncs when the time budget allows),
// RBUDDY_BENCH_PROXY (dist | tsx, see proxy.ts), RBUDDY_BENCH_NODE_ARGS (extra node flags for
// the proxy, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"; dist only), RBUDDY_BENCH_ONLY (relay |
// tls | failover: run one part; default all three).
//
// The TLS part (relay-tls.ts) takes figures 1 (disk), 3 and 5 again with replication over TLS on
// both hops, against direct TLS replication and HAProxy terminating TLS on both sides; after the
// relay part in the same run, it also sets them against the plain figures.
// The failover part (failover.ts) measures the figure rbuddy exists for: failed reads through a
// master loss and full resync for a plain replica, a swapdb replica and rbuddy's active. Each
// part rewrites its own block of docs/benchmarks.md, so running one keeps the other's results.
import { fileURLToPath } from 'node:url';
import { stopAllRedis } from '../harness/redis-server.js';
import { measureFailover } from './failover.js';
import { stopAllRbuddyClis } from './failover-rbuddy.js';
import { stopAllTimedReaders } from './failover-reader.js';
import { failoverDetails, failoverResultsMarkdown, failoverText } from './failover-report.js';
import { busyWarning, describeMachine, loadAverage } from './machine.js';
import { progress, started } from './progress.js';
import { buildProxy, stopAllProxies } from './proxy.js';
import { measureRelay, type RelayMeasurements } from './relay.js';
import { proxyCommand, relayDetails, relayResultsMarkdown, relayRows } from './relay-report.js';
import { relayVerdicts, verdictLines } from './relay-verdicts.js';
import { measureTls } from './relay-tls.js';
import { FAILOVER_MARKERS, TLS_MARKERS, textTable, writeResults } from './report.js';
import { settingsFromEnv, type Settings } from './settings.js';
import { tlsCost, tlsDetails, tlsResultsMarkdown, tlsRows } from './tls-report.js';

const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

/**
 * The results replace those in docs/benchmarks.md only from a run at the documented size (the
 * default RBUDDY_BENCH_MB, 1024, or more), or when RBUDDY_BENCH_DOCS=yes: a quick small run must
 * not overwrite the 1 GB figures the verdicts are judged on.
 */
async function recordResults(
  settings: Settings,
  part: string,
  seconds: number,
  write: () => Promise<void>,
): Promise<void> {
  if (settings.megabytes < 1024 && process.env['RBUDDY_BENCH_DOCS'] !== 'yes') {
    console.log(
      `${part} results not written to docs/benchmarks.md: a ${settings.megabytes} MiB run (${seconds.toFixed(0)} s); the documented figures are from 1024 MiB (RBUDDY_BENCH_DOCS=yes writes them anyway)`,
    );
    return;
  }
  await write();
  console.log(`${part} results written to docs/benchmarks.md (${seconds.toFixed(0)} s)`);
}

async function cleanUp(): Promise<void> {
  await stopAllTimedReaders();
  await stopAllProxies();
  await stopAllRbuddyClis();
  await stopAllRedis();
}

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error(`\nbench: ${signal}, stopping every process it started`);
  void cleanUp()
    .catch((error: unknown) => console.error('bench: cleanup failed', error))
    .finally(() => process.exit(130));
}

async function main(): Promise<void> {
  // Installed before any child starts, so they run before processes.ts's own hooks (which
  // SIGKILL the children); ours then wait for the exits and remove the temp dirs.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const settings = settingsFromEnv(process.env);
  let cli: string | undefined;
  if (settings.proxy.runtime === 'dist') {
    progress('compiling src/ into .bench-tmp/dist (tsconfig.build.json)');
    cli = buildProxy();
  }
  const all = settings.only === 'all';
  const plain = all || settings.only === 'relay' ? await relayPart(settings) : undefined;
  if (all || settings.only === 'tls') await tlsPart(settings, plain);
  if (all || settings.only === 'failover') await failoverPart(settings, cli);
}

/** Runs a part's `measure`, then stops every process the bench started, whatever happened. */
async function measuredCleanly<T>(measure: () => Promise<T>): Promise<T> {
  try {
    return await measure();
  } finally {
    await cleanUp();
  }
}

/** Prints a part's results: its title, table, the busy warning if any, and its details. */
function printPart(
  title: string,
  table: string,
  machine: Record<string, string>,
  details: string,
): void {
  console.log(`\n${title}\n`);
  console.log(table);
  const warning = busyWarning(machine);
  if (warning !== undefined) console.log(`\n${warning}`);
  console.log(`\n${details}\n`);
}

async function relayPart(settings: Settings): Promise<RelayMeasurements> {
  const m = await measuredCleanly(() => measureRelay(settings));
  const seconds = (performance.now() - started) / 1000;
  const rows = relayRows(m);
  printPart(
    `rbuddy relay benchmark (${m.machine['date'] ?? ''})\n` +
      `machine: ${m.machine['nproc'] ?? '?'} cpus, ${m.machine['memory'] ?? '?'}, node ` +
      `${m.machine['node'] ?? '?'}, redis ${m.machine['redis'] ?? '?'}; proxy: ` +
      `${proxyCommand(settings.proxy)}`,
    textTable(rows),
    m.machine,
    `Verdicts (against HAProxy, same run):\n${verdictLines(relayVerdicts(m))}\n\n${relayDetails(m)}`,
  );
  await recordResults(settings, 'relay', seconds, () =>
    writeResults(DOC, relayResultsMarkdown(m, rows, seconds)),
  );
  return m;
}

async function tlsPart(settings: Settings, plain: RelayMeasurements | undefined): Promise<void> {
  const partStarted = performance.now();
  const m = await measuredCleanly(() => measureTls(settings));
  const seconds = (performance.now() - partStarted) / 1000;
  const rows = tlsRows(m);
  printPart(
    `rbuddy TLS relay benchmark (${m.machine['date'] ?? ''})`,
    textTable(rows),
    m.machine,
    `${tlsCost(m, plain)}\n\n${tlsDetails(m)}`,
  );
  await recordResults(settings, 'TLS', seconds, () =>
    writeResults(DOC, tlsResultsMarkdown(m, plain, rows, seconds), TLS_MARKERS),
  );
}

async function failoverPart(settings: Settings, cli: string | undefined): Promise<void> {
  const partStarted = performance.now();
  // Date and load at the start of this part; the Redis version is filled in once known.
  const described = describeMachine('?');
  const m = await measuredCleanly(() =>
    measureFailover({ megabytes: settings.megabytes, proxy: settings.proxy, cli }, progress),
  );
  described['redis'] = m.redisVersion;
  described['load average at end'] = loadAverage();
  const seconds = (performance.now() - partStarted) / 1000;
  printPart(
    `rbuddy failover benchmark (${described['date'] ?? ''})`,
    failoverText(m),
    described,
    failoverDetails(m),
  );
  await recordResults(settings, 'failover', seconds, () =>
    writeResults(DOC, failoverResultsMarkdown(m, described, seconds), FAILOVER_MARKERS),
  );
}

main().catch((error: unknown) => {
  console.error('bench failed:', error);
  process.exitCode = 1;
});
