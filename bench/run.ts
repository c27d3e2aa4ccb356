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
// failover: run one part; default both).
//
// The failover part (failover.ts) measures the figure rbuddy exists for: failed reads through a
// master loss and full resync for a plain replica, a swapdb replica and rbuddy's active. Each
// part rewrites its own block of docs/benchmarks.md, so running one keeps the other's results.
import { fileURLToPath } from 'node:url';
import { stopAllRedis } from '../harness/redis-server.js';
import { measureFailover, type FailoverMeasurements } from './failover.js';
import { stopAllRbuddyClis } from './failover-rbuddy.js';
import { stopAllTimedReaders } from './failover-reader.js';
import { failoverDetails, failoverResultsMarkdown, failoverText } from './failover-report.js';
import { busyWarning, describeMachine, loadAverage } from './machine.js';
import { progress, started } from './progress.js';
import { buildProxy, stopAllProxies } from './proxy.js';
import { measureRelay, type RelayMeasurements } from './relay.js';
import { proxyCommand, relayDetails, relayResultsMarkdown, relayRows } from './relay-report.js';
import { FAILOVER_MARKERS, textTable, writeResults } from './report.js';
import { settingsFromEnv, type Settings } from './settings.js';

const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

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
  if (settings.only !== 'failover') await relayPart(settings);
  if (settings.only !== 'relay') await failoverPart(settings, cli);
}

async function relayPart(settings: Settings): Promise<void> {
  let m: RelayMeasurements;
  try {
    m = await measureRelay(settings);
  } finally {
    await cleanUp();
  }
  const seconds = (performance.now() - started) / 1000;
  const rows = relayRows(m);
  console.log(`\nrbuddy relay benchmark (${m.machine['date'] ?? ''})`);
  console.log(
    `machine: ${m.machine['nproc'] ?? '?'} cpus, ${m.machine['memory'] ?? '?'}, node ` +
      `${m.machine['node'] ?? '?'}, redis ${m.machine['redis'] ?? '?'}; proxy: ` +
      `${proxyCommand(settings.proxy)}\n`,
  );
  console.log(textTable(rows));
  const warning = busyWarning(m.machine);
  if (warning !== undefined) console.log(`\n${warning}`);
  console.log(`\n${relayDetails(m)}\n`);
  await writeResults(DOC, relayResultsMarkdown(m, rows, seconds));
  console.log(`relay results written to docs/benchmarks.md (${seconds.toFixed(0)} s)`);
}

async function failoverPart(settings: Settings, cli: string | undefined): Promise<void> {
  const partStarted = performance.now();
  // Date and load at the start of this part; the Redis version is filled in once known.
  const described = describeMachine('?');
  let m: FailoverMeasurements;
  try {
    m = await measureFailover(
      { megabytes: settings.megabytes, proxy: settings.proxy, cli },
      progress,
    );
  } finally {
    await cleanUp();
  }
  described['redis'] = m.redisVersion;
  described['load average at end'] = loadAverage();
  const seconds = (performance.now() - partStarted) / 1000;
  console.log(`\nrbuddy failover benchmark (${described['date'] ?? ''})\n`);
  console.log(failoverText(m));
  const warning = busyWarning(described);
  if (warning !== undefined) console.log(`\n${warning}`);
  console.log(`\n${failoverDetails(m)}\n`);
  await writeResults(DOC, failoverResultsMarkdown(m, described, seconds), FAILOVER_MARKERS);
  console.log(`failover results written to docs/benchmarks.md (${seconds.toFixed(0)} s)`);
}

main().catch((error: unknown) => {
  console.error('bench failed:', error);
  process.exitCode = 1;
});
