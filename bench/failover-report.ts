// The failover figures as tables (terminal and Markdown) and the generated "Latest failover
// results" part of docs/benchmarks.md.
import { READER } from './failover-cycle.js';
import { RBUDDY_TIMING, VARIANT_LABELS, type FailoverMeasurements } from './failover.js';
import { busyWarning } from './machine.js';
import { markdownTable, textGrid } from './report.js';

export interface Table {
  headers: string[];
  lines: string[][];
}

const seconds = (ms: number | null, digits = 2): string =>
  ms === null || !Number.isFinite(ms) ? 'n/a' : `${(ms / 1000).toFixed(digits)} s`;
const since = (ms: number | null): string =>
  ms === null || !Number.isFinite(ms) ? 'n/a' : `+${(ms / 1000).toFixed(2)} s`;

/** The headline: failed reads and time without a dataset, per variant. */
export function headlineTable(m: FailoverMeasurements): Table {
  return {
    headers: [
      'replica applications read',
      'failed reads',
      'reads (per s)',
      'reads failing, first → last',
      'reads failing, total',
      'without a dataset per its INFO',
    ],
    lines: m.runs.map((run) => [
      VARIANT_LABELS[run.id],
      String(run.reads.failed),
      `${run.reads.reads} (${run.reads.readsPerSecond.toFixed(0)}/s)`,
      seconds(run.reads.firstToLastMs),
      seconds(run.reads.failingMs),
      seconds(run.withoutDatasetMs),
    ]),
  };
}

/** rbuddy's own timings through the same cycle. */
export function rbuddyTable(m: FailoverMeasurements): Table | undefined {
  const f = m.runs.find((run) => run.id === 'rbuddy')?.rbuddy;
  if (f === undefined) return undefined;
  const drain = `${RBUDDY_TIMING.drainMs} ms`;
  return {
    headers: ["rbuddy's failover (c)", 'time'],
    lines: [
      ['master killed → `master.down`', seconds(f.masterDownMs, 3)],
      [
        `master killed → \`active.promoted\` (--grace-ms ${RBUDDY_TIMING.graceMs})`,
        seconds(f.promotedMs, 3),
      ],
      [
        'master back (answers PING, AOF loaded) → switch (`failover.completed`)',
        seconds(f.backToCompletedMs),
      ],
      ['… of which master back → standby synced (its INFO)', seconds(f.backToStandbySyncedMs)],
      [
        'switch overhead: standby synced (its INFO) → `failover.completed`',
        seconds(f.syncedToCompletedMs, 3),
      ],
      [
        `switch overhead: standby synced (its INFO) → \`standby.ready\`, minus the drain (${drain})`,
        seconds(f.syncedToReadyMinusDrainMs, 3),
      ],
      [
        "… of which standby synced (its INFO) → its first `REPLCONF ACK` (rbuddy's status)",
        seconds(f.syncedToFirstAckMs, 3),
      ],
      [
        '… of which first `REPLCONF ACK` → `failover.completed`',
        seconds(f.firstAckToCompletedMs, 3),
      ],
    ],
  };
}

export function failoverText(m: FailoverMeasurements): string {
  const tables = [headlineTable(m), rbuddyTable(m)].flatMap((t) => (t === undefined ? [] : [t]));
  return tables.map((t) => textGrid(t.headers, t.lines)).join('\n\n');
}

export function failoverDetails(m: FailoverMeasurements): string {
  const lines: string[] = [];
  for (const run of m.runs) {
    const c = run.cycle;
    const r = run.reads;
    const errors = r.errors.map((e) => `${e.error} × ${e.count}`).join(', ');
    lines.push(
      `- ${VARIANT_LABELS[run.id]}: initial full sync ${run.initialSyncS.toFixed(1)} s ` +
        `(not counted); the master answered PING ${seconds(c.backAt - c.killAt)} after the ` +
        `kill (AOF load), replid ${c.replidBefore.slice(0, 8)}… → ${c.replidAfter.slice(0, 8)}…` +
        ` (replid2 ${c.replid2After.slice(0, 8)}…), and served ` +
        `${c.syncs.syncFull} full / ${c.syncs.syncPartialOk} partial resync(s); recovered ` +
        `${since(c.completedAt - c.killAt)} after the kill. Reads: ${r.reads} ` +
        `(${r.readsPerSecond.toFixed(0)}/s), ${r.failed} failed in ${r.spans} span(s)` +
        (r.firstFailure === null || r.lastFailure === null
          ? ''
          : `, from ${since(r.firstFailure - c.killAt)} to ${since(r.lastFailure - c.killAt)} ` +
            `after the kill (${errors})`) +
        '.',
    );
    lines.push(`  - INFO of the replica applications read: ${run.served.story}.`);
    lines.push(
      `  - log of the ${run.id === 'rbuddy' ? 'standby' : 'replica'}: ${run.syncLog || '(no sync lines)'}.`,
    );
    if (run.served.asyncLoadingSeen) lines.push('  - `async_loading:1` was seen.');
    const f = run.rbuddy;
    if (f !== undefined) {
      lines.push(
        `  - events after the kill: ${f.events.map((e) => `${e.type} ${since(e.ms)}`).join(', ')}.`,
      );
      lines.push(`  - failover timeline (/v1/status, after the kill): ${f.timeline}.`);
      lines.push(`  - INFO of the standby: ${f.standbyStory}.`);
      lines.push(
        `  - master back → the standby's INFO shows its sync in progress ` +
          `${seconds(f.backToStandbySyncStartMs)}, synced ${seconds(f.backToStandbySyncedMs)}; ` +
          `restart command → \`failover.completed\` ${seconds(f.restartToCompletedMs)}; ` +
          `+FULLRESYNC answers the gate kept from the active: ${f.gateRefusals}; the proxy ` +
          `finished relaying the snapshot ${seconds(f.snapshotRelayedToSyncedMs)} before the ` +
          `standby's INFO showed it synced (its load); the engine's \`standby.synced\` → ` +
          `\`failover.completed\` ${seconds(f.syncedEventToCompletedMs, 3)}; epoch ` +
          `${String(f.epochBefore)} → ${String(f.epochAfter)}.`,
      );
    }
    for (const anomaly of run.anomalies) lines.push(`  - **Anomaly:** ${anomaly}.`);
  }
  return lines.join('\n');
}

function failoverMethod(m: FailoverMeasurements): string {
  const s = m.settings;
  const proxy =
    s.proxy.runtime === 'dist'
      ? '`node .bench-tmp/dist/cli.js` (src/ compiled with tsconfig.build.json)'
      : '`node --import tsx src/cli.ts`';
  return [
    `- Dataset: \`populate()\`, ${s.megabytes} MiB of random 1000-byte values over dbs 0–2 ` +
      `plus typed keys: ${m.dataset.keys} keys, used_memory ${m.dataset.usedMemory}. One ` +
      `master for all three variants (\`rdbcompression no\`, \`repl-diskless-sync no\`, ` +
      `\`repl-diskless-sync-delay 0\`, \`appendonly yes\` with the default \`appendfsync ` +
      `everysec\` and RDB preamble, \`save ""\`), its AOF rewritten once after populating ` +
      `(${seconds(m.dataset.rewriteMs, 1)}; base file ${(m.dataset.aofBaseBytes / 1e9).toFixed(2)} ` +
      `GB); it takes no writes afterwards. The variants run one after the other in the order ` +
      `shown, each on fresh replicas with default settings except (b)'s ` +
      `\`repl-diskless-load swapdb\`.`,
    `- Cycle: the replica(s) synced; the master's AOF complete; dirty pages drained; the ` +
      `reader starts and must read 100 times without a failure; \`kill -9\` the master and ` +
      `restart it at once on the same port and dir. It reloads its AOF: the same data (keys ` +
      `per db checked) under a new replication history (Redis carries a history over only ` +
      `from an RDB), so every replica must full-resync; the restarted master's replid, ` +
      `replid2 (zero), \`sync_full\` (1) and \`sync_partial_ok\` (0) are checked. "Master ` +
      `back" = it answers PING, i.e. has loaded its AOF. The cycle ends when (a)/(b)'s ` +
      `replica has caught up with the master again, (c) when rbuddy logged \`standby.ready\` ` +
      `and is \`healthy\`; then 100 more reads.`,
    `- Reader: in the bench process, one \`GET ${READER.key}\` every ${READER.periodMs} ms ` +
      `(ioredis, no ready check, no retries, ${READER.timeoutMs} ms command timeout); (a)/(b) ` +
      `read the replica directly, (c) asks \`GET /active\` before every read (as ` +
      `harness/reader.ts does). A read fails on any error (\`-LOADING\` included), a ` +
      `nil or wrong value, or a timeout. "first → last" runs from the start of the first ` +
      `failed read to the end of the last; "total" adds up the failing spans, each from a ` +
      `failed read's start to the start of the next successful read.`,
    `- "Without a dataset per its INFO": \`INFO replication persistence keyspace\` polled every ` +
      `20 ms on the replica applications read ((c): the active until \`failover.completed\`, ` +
      `then the new active); the time it showed \`loading:1\`, no keys, or did not answer.`,
    `- rbuddy: the real CLI, ${proxy}, with a real standby; \`--grace-ms ` +
      `${RBUDDY_TIMING.graceMs} --drain-ms ${RBUDDY_TIMING.drainMs} --probe-interval-ms ` +
      `${RBUDDY_TIMING.probeIntervalMs} --probe-timeout-ms ${RBUDDY_TIMING.probeTimeoutMs}\`, a ` +
      `fresh state dir; on its first start it attached the active itself. Event times are the ` +
      `events' own timestamps (one JSON log line each); "standby synced (its INFO)" is the ` +
      `first 20 ms poll showing the standby's link up with no sync or load in progress. ` +
      `Checked after the cycle: epoch + 1, roles swapped, the new active's keys per db equal ` +
      `the master's, the old active empty, exactly one \`failover.completed\`, no ` +
      `\`failover.failed\`.`,
  ].join('\n');
}

export function failoverResultsMarkdown(
  m: FailoverMeasurements,
  machine: Record<string, string>,
  secondsTaken: number,
): string {
  const tables = [headlineTable(m), rbuddyTable(m)].flatMap((t) => (t === undefined ? [] : [t]));
  const warning = busyWarning(machine);
  const anomalies = m.runs.flatMap((run) =>
    run.anomalies.map((a) => `> Anomaly in ${VARIANT_LABELS[run.id]}: ${a}.`),
  );
  return [
    '## Latest failover results',
    `Generated by \`npm run bench\` on ${machine['date'] ?? '?'}; the failover part took ` +
      `${secondsTaken.toFixed(0)} s.`,
    markdownTable(
      ['', ''],
      Object.entries(machine).map(([key, value]) => [key, value]),
    ),
    ...tables.map((t) => markdownTable(t.headers, t.lines)),
    ...(warning === undefined ? [] : [`> ${warning}`]),
    ...anomalies,
    '### Failover runs',
    failoverDetails(m),
    '### Failover method, as run',
    failoverMethod(m),
  ].join('\n\n');
}
