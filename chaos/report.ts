// The report of a chaos run: faults by kind, failovers, checks by invariant, reads, RSS, and for
// every violation its fault timeline and what to reproduce it with; the last line is the summary
// scripts and CI read.
import { BACK_EMPTY_HOLD_MS, BACK_EMPTY_REPLACE_MS, type Checker } from './checker.js';
import type { Op } from './history.js';
import { LAG_BOUND_MS } from './offset-lag.js';

export interface RunFacts {
  seed: number;
  minutes: number;
  dir: string;
  logs: string[];
  redeliveries: number;
  replicaRdb: boolean;
  only: string[] | undefined;
}

export function summaryLine(seed: number, checker: Checker): string {
  const faults = [...checker.faults.values()].reduce((sum, n) => sum + n, 0);
  const failed = checker.reads.failed + checker.sentinelReads.failed;
  return `chaos: seed ${seed}, ${faults} faults, ${checker.failovers} failovers, ${checker.checkCount} checks, ${checker.violations.length} violations, ${failed} failed reads`;
}

export function report(facts: RunFacts, checker: Checker): string {
  const lines: string[] = [];
  lines.push('', `chaos report (seed ${facts.seed}, ${facts.minutes} min)`);
  lines.push('faults by kind:');
  for (const [kind, count] of [...checker.faults].sort())
    lines.push(`  ${kind.padEnd(28)} ${count}`);
  lines.push(`failovers (epochs advanced): ${checker.failovers}`);
  lines.push('checks (judged / held, and how many were due but skipped: an excuse held):');
  const failedBy = new Map<string, number>();
  for (const v of checker.violations)
    failedBy.set(v.invariant, (failedBy.get(v.invariant) ?? 0) + 1);
  for (const [name, count] of [...checker.checks].sort()) {
    const skipped = checker.skipped.get(name);
    lines.push(
      `  ${name.padEnd(52)} ${count} / ${count - (failedBy.get(name) ?? 0)}` +
        (skipped === undefined ? '' : `, ${skipped} skipped`),
    );
  }
  const { midRun, final } = checker.digests;
  const calm = checker.calmWindows;
  lines.push(
    `digests at quiet points: ${midRun} mid-run, ${final} at the end;` +
      ` calm windows: ${calm.reached} reached, ${calm.timedOut} ended unreached,` +
      ` ${calm.cut} cut short by the run's end`,
  );
  const r = checker.reads;
  const s = checker.sentinelReads;
  lines.push(
    `reads following GET /active: ${r.ok} ok, ${r.failed} failed, ${r.excused} excused (node killed or stopped by the run)`,
  );
  lines.push(
    `longest excuse of a node back empty, to its replacement: ${(checker.longestBackEmptyMs / 1000).toFixed(1)} s` +
      ` (bounds: wrong answers ${BACK_EMPTY_HOLD_MS / 1000} s, errors ${BACK_EMPTY_REPLACE_MS / 1000} s after the last fault in the way)`,
  );
  lines.push(
    `reads through ioredis + rbuddy as sentinel: ${s.ok} ok, ${s.failed} failed, ${s.excused} excused` +
      ` (the client ended and was connected again ${s.restarted} times)`,
  );
  const syncs = [...checker.fullSyncs].sort().map(([verdict, n]) => `${n} ${verdict}`);
  lines.push(`full syncs in the replicas' logs: ${syncs.length === 0 ? 'none' : syncs.join(', ')}`);
  lines.push(`webhook redeliveries of one id (at-least-once, information): ${facts.redeliveries}`);
  lines.push(
    `largest lag of the active behind the master: ${seconds(checker.maxLagMs)}` +
      ` (${seconds(checker.maxJudgedLagMs)} with nothing to excuse it; bound ${LAG_BOUND_MS / 1000} s)`,
  );
  lines.push(`rbuddy peak RSS: ${checker.peakRssMb.toFixed(0)} MB`);
  lines.push(`history and logs: ${facts.dir}`);
  for (const [i, v] of checker.violations.entries()) {
    lines.push('', `VIOLATION ${i + 1}: ${v.invariant} at ${seconds(v.t)}: ${v.message}`);
    if (i >= TIMELINES) continue;
    lines.push('  timeline (±10 s):');
    for (const op of v.around.slice(-40)) lines.push(`    ${formatOp(op)}`);
  }
  if (checker.violations.length > TIMELINES) {
    lines.push(
      '',
      `(timelines of the first ${TIMELINES} violations only; history.jsonl has every operation)`,
    );
  }
  if (checker.violations.length > 0) {
    lines.push(
      '',
      `reproduce: npm run chaos -- --minutes ${facts.minutes} --seed ${facts.seed}${facts.replicaRdb ? ' --replica-rdb' : ''}${facts.only === undefined ? '' : ` --only ${facts.only.join(',')}`}`,
    );
    lines.push(`logs: ${[...facts.logs, `${facts.dir}/history.jsonl`].join(' ')}`);
  }
  return lines.join('\n');
}

/**
 * Violations printed with their timeline: a broken rbuddy can make hundreds, each with 40 lines,
 * and the report then ran to megabytes (a self-test's was cut short before its last line).
 */
const TIMELINES = 10;

function seconds(t: number): string {
  return `${(t / 1000).toFixed(1)} s`;
}

function formatOp(op: Op): string {
  const data = op.data === undefined ? '' : ` ${JSON.stringify(op.data)}`;
  const ok = op.ok === undefined ? '' : op.ok ? ' ok' : ' FAILED';
  return `${seconds(op.t).padStart(8)} ${op.kind} ${op.node}${ok}${data}`.slice(0, 300);
}
