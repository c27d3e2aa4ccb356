// The relay part's report: the results table, the runs in detail and the method as run, for the
// terminal and for docs/benchmarks.md.
import type { SnapshotMode } from './full-sync.js';
import type { Path } from './links.js';
import { busyWarning } from './machine.js';
import type { ProxyOptions } from './proxy.js';
import type { ReferencePath } from './reference-relays.js';
import type { RelayMeasurements, SyncAndWaitMeasurements } from './relay.js';
import {
  limitRow,
  markdownResults,
  markdownTable,
  ratioRow,
  skippedRow,
  type Row,
} from './report.js';
import { median, percentile } from './stats.js';
import { relayVerdicts, verdictLines } from './relay-verdicts.js';
import type { WaitRun } from './wait-latency.js';

const MB = 1e6;
const GB = 1e9;

const fixed = (digits: number) => (value: number) => value.toFixed(digits);
const list = (values: readonly number[], digits = 2): string =>
  values.map(fixed(digits)).join(' / ');

/**
 * Figure `number`'s rows for one snapshot mode: the full sync direct and proxied (`figure` names
 * it), then direct against each reference relay. `label` names a reference relay.
 */
export function fullSyncRows(
  m: SyncAndWaitMeasurements,
  mode: SnapshotMode,
  number: string,
  figure: string,
  maxRatio: number | undefined,
  label: (reference: ReferencePath) => string = (reference) => m.references.labels[reference],
): Row[] {
  const runs = m.full[mode];
  if (runs === undefined) {
    return [skippedRow(figure, maxRatio === undefined ? '—' : `ratio ≤ ${maxRatio}`, 'skipped')];
  }
  const bytes = runs.proxied.find((run) => run.proxy?.snapshotBytes != null)?.proxy?.snapshotBytes;
  const size = bytes == null ? `${m.settings.megabytes} MiB` : `${(bytes / GB).toFixed(2)} GB`;
  const seconds = (path: Path): number => median(runs[path].map((run) => run.seconds));
  const rows = [
    ratioRow(`${figure} (${size})`, 's', seconds('direct'), seconds('proxied'), maxRatio),
  ];
  for (const reference of m.references.paths) {
    const floor = m.fullFloor[mode]?.[reference] ?? [];
    if (floor.length === 0) continue;
    rows.push(
      ratioRow(
        `${number}. … via ${label(reference)}`,
        's',
        seconds('direct'),
        median(floor.map((run) => run.seconds)),
        undefined,
      ),
    );
  }
  return rows;
}

/** The median over runs of each run's WAIT percentile `key`. */
export function waitMedian(
  runs: readonly WaitRun[] | undefined,
  key: 'p50Ms' | 'p99Ms' = 'p99Ms',
): number {
  return median((runs ?? []).map((run) => run[key]));
}

/** Figure `number`'s WAIT p99 rows: direct and proxied (`figure`), then each reference relay. */
export function waitP99Rows(
  m: SyncAndWaitMeasurements,
  number: string,
  figure: string,
  maxRatio: number | undefined,
  label: (reference: ReferencePath) => string = (reference) => m.references.labels[reference],
): Row[] {
  const direct = waitMedian(m.wait.direct);
  const rows = [ratioRow(figure, 'ms', direct, waitMedian(m.wait.proxied), maxRatio, 3)];
  for (const reference of m.references.paths) {
    const floor = m.waitFloor[reference] ?? [];
    if (floor.length === 0) continue;
    rows.push(
      ratioRow(
        `${number}. … p99 via ${label(reference)}`,
        'ms',
        direct,
        waitMedian(floor),
        undefined,
        3,
      ),
    );
  }
  return rows;
}

/** The proxy's CPU seconds per GB relayed, one value per proxied full sync (of `only`). */
export function proxyCpuPerGb(m: SyncAndWaitMeasurements, only?: SnapshotMode): number[] {
  return proxyUsage(m, only).map((u) => u.cpuSeconds / (u.bytesFromMaster / GB));
}

function proxyUsage(m: SyncAndWaitMeasurements, only?: SnapshotMode) {
  return (['disk', 'diskless'] as const)
    .filter((mode) => only === undefined || mode === only)
    .flatMap((mode) => m.full[mode]?.proxied ?? [])
    .flatMap((run) => (run.proxy === undefined ? [] : [run.proxy]));
}

/** Figure `number`'s CPU rows: the proxy's per GB relayed (`figure`), then each reference's. */
export function cpuRows(
  m: SyncAndWaitMeasurements,
  number: string,
  figure: string,
  max: number | undefined,
  label: (reference: ReferencePath) => string = (reference) => m.references.labels[reference],
): Row[] {
  const rows = [limitRow(figure, 's/GB', median(proxyCpuPerGb(m)), max, 3)];
  for (const reference of m.references.paths) {
    const floorCpu = relayCpuPerGb(m, reference);
    if (floorCpu.length === 0) continue;
    rows.push(
      limitRow(
        `${number}. … ${label(reference)}, CPU per GB`,
        's/GB',
        median(floorCpu),
        undefined,
        3,
      ),
    );
  }
  return rows;
}

export function relayRows(m: RelayMeasurements): Row[] {
  const rows: Row[] = [];
  for (const mode of ['disk', 'diskless'] as const) {
    rows.push(...fullSyncRows(m, mode, '1', `1. full sync, ${mode} snapshot`, undefined));
  }
  const lag = (path: Path): number => median(m.catchUp[path].map((run) => run.lagMs));
  rows.push(
    ratioRow(
      `2. catch-up after ${m.catchUpOptions.commands / 1000}k-SET burst`,
      'ms',
      lag('direct'),
      lag('proxied'),
      undefined,
      1,
    ),
  );
  rows.push(
    ratioRow(
      '3. WAIT 1 p50 under load',
      'ms',
      waitMedian(m.wait.direct, 'p50Ms'),
      waitMedian(m.wait.proxied, 'p50Ms'),
      undefined,
      3,
    ),
  );
  rows.push(...waitP99Rows(m, '3', '3. WAIT 1 p99 under load', undefined));
  const usage = proxyUsage(m);
  rows.push(
    limitRow(
      '4. proxy peak RSS relaying the snapshot',
      'MB',
      median(usage.map((u) => u.peakRssBytes / MB)),
      undefined,
      1,
    ),
  );
  rows.push(...cpuRows(m, '5', '5. proxy CPU per GB relayed', undefined));
  if (m.references.skipped !== undefined) {
    rows.push(skippedRow('1., 3., 5. … via HAProxy', '—', `skipped: ${m.references.skipped}`));
  }
  return rows;
}

/**
 * A reference relay's CPU seconds per GB, for each of its syncs. It counts no bytes itself:
 * each sync moved what the proxied run just before it relayed (same dataset, same snapshot).
 */
export function relayCpuPerGb(
  m: SyncAndWaitMeasurements,
  reference: ReferencePath,
  only?: SnapshotMode,
): number[] {
  return (['disk', 'diskless'] as const)
    .filter((mode) => only === undefined || mode === only)
    .flatMap((mode) =>
      (m.fullFloor[mode]?.[reference] ?? []).flatMap((run, i) => {
        const bytes = m.full[mode]?.proxied[i]?.proxy?.bytesFromMaster;
        return run.relayCpuSeconds === undefined || bytes === undefined
          ? []
          : [run.relayCpuSeconds / (bytes / GB)];
      }),
    );
}

export function relayDetails(m: RelayMeasurements): string {
  const lines = fullSyncDetails(m, ['disk', 'diskless'], m.disklessSkipped);
  for (const path of ['direct', 'proxied'] as const) {
    const runs = m.catchUp[path];
    lines.push(
      `- Catch-up, ${path}: ${list(
        runs.map((run) => run.lagMs),
        1,
      )} ms after bursts of ${list(
        runs.map((run) => run.burstMs),
        0,
      )} ms (${((runs[0]?.streamBytes ?? 0) / MB).toFixed(1)} MB of stream each).`,
    );
  }
  return [...lines, ...waitDetails(m)].join('\n');
}

/** The full syncs run by run, for each of `modes` (why one was skipped: `skipped`). */
export function fullSyncDetails(
  m: SyncAndWaitMeasurements,
  modes: readonly SnapshotMode[],
  skipped?: string,
): string[] {
  const lines: string[] = [];
  for (const mode of modes) {
    const runs = m.full[mode];
    if (runs === undefined) {
      lines.push(`- Full sync, ${mode}: skipped (${skipped ?? 'not run'}).`);
      continue;
    }
    for (const path of ['direct', 'proxied'] as const) {
      const until = runs[path].map((run) => run.untilLoadingSeconds ?? NaN);
      const transfer = runs[path].map((run) => run.transferSeconds ?? NaN);
      lines.push(
        `- Full sync, ${mode}, ${path}: ${list(runs[path].map((run) => run.seconds))} s; ` +
          `until the replica started loading: ${list(until)} s (median ` +
          `${median(until).toFixed(2)} s), of which the transfer from its first byte: ` +
          `${list(transfer)} s (median ${median(transfer).toFixed(2)} s); the replica waited ` +
          `for a CPU ${list(runs[path].map((run) => run.replicaRunQueueSeconds))} s; ` +
          `waited for the disk before each: ${list(
            runs[path].map((run) => run.settleMs / 1000),
            1,
          )} s.`,
      );
    }
    for (const reference of m.references.paths) {
      const floor = m.fullFloor[mode]?.[reference] ?? [];
      if (floor.length === 0) continue;
      lines.push(
        `- Full sync, ${mode}, ${m.references.labels[reference]}: ` +
          `${list(floor.map((run) => run.seconds))} s; transfer from the first byte ` +
          `${list(floor.map((run) => run.transferSeconds ?? NaN))} s; its CPU ` +
          `${list(relayCpuPerGb(m, reference, mode), 3)} s/GB.`,
      );
    }
    const pairs = runs.direct.map(
      (direct, i) => (runs.proxied[i]?.seconds ?? NaN) / direct.seconds,
    );
    lines.push(
      `- Full sync, ${mode}, proxied / direct within each ABBA pair: ${list(pairs, 3)} ` +
        `(median ${median(pairs).toFixed(3)}).`,
    );
    for (const run of runs.proxied) {
      const u = run.proxy;
      if (u === undefined) continue;
      lines.push(
        `  - proxy, ${mode}: ${u.cpuSeconds.toFixed(2)} CPU s for ` +
          `${(u.bytesFromMaster / GB).toFixed(3)} GB relayed ` +
          `(${(u.cpuSeconds / (u.bytesFromMaster / GB)).toFixed(3)} s/GB); ` +
          `peak RSS ${(u.peakRssBytes / MB).toFixed(1)} MB` +
          `${u.peakIsRelayOnly ? '' : ' (start-up included: VmHWM could not be reset)'}, ` +
          `idle RSS ${(u.idleRssBytes / MB).toFixed(1)} MB, ` +
          `peak write buffer to the replica ${(u.peakBufferedToReplica / 1024).toFixed(0)} KiB; ` +
          `failover engine ${u.engineState}.`,
      );
    }
  }
  return lines;
}

/** The WAIT runs one by one, all samples pooled, and the steady writer's rate. */
export function waitDetails(m: SyncAndWaitMeasurements): string[] {
  const lines: string[] = [];
  const waits: Array<[string, readonly WaitRun[]]> = [
    ['direct', m.wait.direct],
    ['proxied', m.wait.proxied],
    ...m.references.paths.map((reference): [string, readonly WaitRun[]] => [
      m.references.labels[reference],
      m.waitFloor[reference] ?? [],
    ]),
  ];
  for (const [name, runs] of waits) lines.push(`- WAIT, ${name}: ${waitSummary(runs)}.`);
  const pooled = (runs: readonly WaitRun[], p: number): string =>
    percentile(
      runs.flatMap((run) => run.samplesMs),
      p,
    ).toFixed(3);
  const all = waits.map(([, runs]) => runs);
  lines.push(
    `- WAIT, all samples pooled: p50 ${all.map((runs) => pooled(runs, 50)).join(' / ')} ms, ` +
      `p99 ${all.map((runs) => pooled(runs, 99)).join(' / ')} ms, ` +
      `p99.9 ${all.map((runs) => pooled(runs, 99.9)).join(' / ')} ms ` +
      `(${waits.map(([name]) => name).join(' / ')}).`,
  );
  lines.push(
    `- Steady writer: ${Math.round(m.writer.writes / m.writer.seconds)} SET/s achieved ` +
      `(asked ${m.settings.writeRate}).`,
  );
  return lines;
}

function waitSummary(runs: readonly WaitRun[]): string {
  return `p50 ${list(
    runs.map((run) => run.p50Ms),
    3,
  )} ms; p99 ${list(
    runs.map((run) => run.p99Ms),
    3,
  )} ms; max ${list(
    runs.map((run) => run.maxMs),
    1,
  )} ms; timeouts ${runs.map((run) => run.timeouts).join(' / ')}`;
}

function method(m: RelayMeasurements): string {
  const s = m.settings;
  return [
    `- Dataset: \`populate()\` from harness/replication.ts, ${s.megabytes} MiB of random ` +
      `1000-byte values over dbs 0–2 plus typed keys: ${m.dataset.keys} keys, used_memory ` +
      `${m.dataset.usedMemory}. Master with \`rdbcompression no\`, ` +
      `\`repl-diskless-sync-delay 0\`; replica with default settings (disk-backed load).`,
    `- Full sync: a warm-up sync (disk, direct, not counted), then for each snapshot mode ` +
      `${s.syncReps} × (direct, proxied) ` +
      `in ABBA order, rbuddy's sync run back to back with one through each reference relay ` +
      `(${referencesRun(m)}), rbuddy first in odd repetitions and last in even ones, so that ` +
      `rbuddy and each reference also alternate (ABBA); the references' CPU per GB uses the ` +
      `bytes rbuddy relayed in the same repetition. ` +
      `Timed from \`REPLICAOF\` until the replica's INFO shows ` +
      `\`master_link_status:up\`, \`master_sync_in_progress:0\`, \`loading:0\` and ` +
      `\`master_repl_offset\` ≥ the master's (polled every 20 ms). Between runs: ` +
      `\`REPLICAOF NO ONE\`, \`FLUSHALL\`, the master drops the link, and the machine's dirty ` +
      `pages drain below 32 MiB (the previous run's RDB fsyncs). The master counts one ` +
      `\`sync_full\` per run, and every \`REPLICAOF\` opens a new link (both checked).`,
    `- Proxy: the real CLI as a child process, ${proxyCommand(s.proxy)} (the PID is checked ` +
      `to be the node binary itself), one fresh process per proxied full sync, one for all the ` +
      `streaming figures. CPU = utime + stime from /proc/<pid>/stat ` +
      `across the sync; peak RSS = VmHWM from /proc/<pid>/status, reset to the current RSS ` +
      `(\`clear_refs\` 5) just before \`REPLICAOF\`; bytes = the session's ` +
      `\`bytes.fromMaster\` from GET /v1/status. MB = 10⁶ bytes, GB = 10⁹ bytes. Its ` +
      `configured standby is an address nobody listens on: on a first start with the standby ` +
      `unreachable the failover engine stays \`degraded\` and never sends \`REPLICAOF\` ` +
      `itself, so the bench alone points the replica and the proxy is measured as a relay.`,
    `- Catch-up: master flushed, replica moved between the paths by \`REPLICAOF\` (partial ` +
      `resync). ${s.burst} SETs of 100-byte values in pipelines of ` +
      `${m.catchUpOptions.batch}, ${m.catchUpOptions.window} in flight; timed from the last ` +
      `reply until the replica's ROLE offset reaches the master's (polled back to back for ` +
      `20 ms, then every ~1 ms). One ` +
      `warm-up burst, then ${s.reps} × (direct, proxied) in ABBA order.`,
    `- WAIT: a separate process writes ${s.writeRate} SET/s (pipelines every 10 ms); the bench ` +
      `runs \`SET\` then \`WAIT 1 1000\` ${s.waitIterations} times per run, timing the WAIT ` +
      `alone; ${s.reps} × (direct, proxied) in ABBA order, after 200 uncounted warm-up ` +
      `WAITs; the table shows the median over runs of each run's p50 and p99. Back to back ` +
      `with each proxied run, one run through each reference relay (${referencesRun(m)}), in ` +
      `the same alternating order as the full syncs.`,
    `- Reference relays, each in its own process: a bare Node pipe (bench/bare-relay.ts: ` +
      `\`socket.pipe()\` both ways, nothing parsed), the floor any relay written for Node ` +
      `starts from on this machine; and HAProxy (bench/haproxy-relay.ts: Debian's package, ` +
      `\`mode tcp\`, its default threads, no splicing), a native relay, the least the extra ` +
      `hop costs here whoever makes it.` +
      (m.references.skipped === undefined ? '' : ` HAProxy was skipped: ${m.references.skipped}.`),
    `- Rows 4 and 5 are the median over every proxied full sync (disk and diskless). ` +
      `The table's ratios are against direct replication, for information; the targets are ` +
      `the verdicts, each against HAProxy over the pairs of the same repetition: full sync ` +
      `(each mode, ≥ 4 pairs) and WAIT p99 compare medians, CPU per GB the medians over all ` +
      `full syncs, peak RSS is the highest over the proxied full syncs and is settled only on ` +
      `a snapshot of 1 GB or more.`,
  ].join('\n');
}

function referencesRun(m: RelayMeasurements): string {
  return m.references.paths.map((reference) => m.references.labels[reference]).join(', ');
}

export function proxyCommand(proxy: ProxyOptions): string {
  if (proxy.runtime === 'tsx') return '`node --import tsx src/cli.ts` (harness/rbuddy-process.ts)';
  const flags = proxy.nodeArgs.length > 0 ? `${proxy.nodeArgs.join(' ')} ` : '';
  return `\`node ${flags}.bench-tmp/dist/cli.js\` (src/ compiled with tsconfig.build.json)`;
}

export function relayResultsMarkdown(
  m: RelayMeasurements,
  rows: readonly Row[],
  seconds: number,
): string {
  return resultsMarkdown(m, 'Latest results', rows, seconds, [
    ['Verdicts (against HAProxy, same run)', verdictLines(relayVerdicts(m))],
    ['Runs', relayDetails(m)],
    ['Method, as run', method(m)],
  ]);
}

/** A part's generated block: heading, machine, table, busy warning, then `sections`. */
export function resultsMarkdown(
  m: Pick<SyncAndWaitMeasurements, 'machine'>,
  heading: string,
  rows: readonly Row[],
  seconds: number,
  sections: ReadonlyArray<readonly [string, string]>,
): string {
  const machine = markdownTable(
    ['', ''],
    Object.entries(m.machine).map(([key, value]) => [key, value]),
  );
  return [
    `## ${heading}`,
    `Generated by \`npm run bench\` on ${m.machine['date'] ?? '?'} in ${seconds.toFixed(0)} s.`,
    machine,
    markdownResults(rows),
    ...[busyWarning(m.machine)].flatMap((warning) =>
      warning === undefined ? [] : [`> ${warning}`],
    ),
    ...sections.flatMap(([title, text]) => [`### ${title}`, text]),
  ].join('\n\n');
}
