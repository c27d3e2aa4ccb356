// The relay's targets, judged against HAProxy measured in the same run rather than against
// direct replication: on a machine whose CPUs the master, the replica and the relay share, a
// ratio to direct replication mostly measures the machine (the extra hop costs every relay its
// share), while rbuddy and HAProxy alternating (ABBA) pay that alike, so their ratio is what
// rbuddy itself costs. Pure arithmetic over the figures the bench measured; relay.ts orders the
// runs, relay-report.ts prints the lines.

import { median } from './stats.js';

export type VerdictState = 'PASS' | 'FAIL' | 'NOT SETTLED';

export interface TargetVerdict {
  /** What is judged, e.g. "full sync, disk snapshot". */
  target: string;
  state: VerdictState;
  /** The figures behind the state, in words. */
  text: string;
}

/** Fewer rbuddy/HAProxy pairs than this settle no full-sync verdict: one pair is noise. */
export const MIN_SYNC_PAIRS = 4;
export const MAX_SYNC_RATIO = 1.03;
export const MAX_WAIT_P99_RATIO = 1.1;
export const MAX_CPU_RATIO = 1;
export const MAX_PEAK_RSS_MB = 100;
/** The RSS target is for relaying a 1 GB snapshot: a smaller one settles nothing. */
export const RSS_SNAPSHOT_BYTES = 1e9;
/**
 * CPU per GB is read in clock ticks (10 ms): below half a GB per sync a relay's CPU is a few
 * dozen ticks, and an 8 MiB run once printed a settled FAIL of 3 ticks against 1 (reviewer
 * R11d, D6). Below this, and with fewer than MIN_SYNC_PAIRS pairs, nothing is settled.
 */
export const CPU_SNAPSHOT_BYTES = 0.5e9;

const MB = 1e6;
const GB = 1e9;

/**
 * The pairs of one rbuddy run and the HAProxy run of the same repetition (index), both
 * measured (finite): what a ratio verdict may compare.
 */
export function pairs(
  rbuddy: readonly number[],
  haproxy: readonly number[],
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < Math.min(rbuddy.length, haproxy.length); i += 1) {
    const r = rbuddy[i];
    const h = haproxy[i];
    if (r !== undefined && h !== undefined && Number.isFinite(r) && Number.isFinite(h)) {
      out.push([r, h]);
    }
  }
  return out;
}

export interface RatioVerdictInput {
  target: string;
  /** rbuddy's value in each repetition, aligned with `haproxy` by index. */
  rbuddy: readonly number[];
  haproxy: readonly number[];
  maxRatio: number;
  /** Fewer pairs than this: NOT SETTLED. */
  minPairs: number;
  unit: string;
  digits: number;
  /** What the values are, for the text: "median time", "median p99", … */
  what: string;
  /** Why HAProxy was not measured, when it was not. */
  haproxyMissing?: string | undefined;
}

/**
 * rbuddy's median over HAProxy's median, over the repetitions where both were measured, against
 * `maxRatio`. The median of the ratios within each pair is given beside it (not judged).
 */
export function ratioVerdict(input: RatioVerdictInput): TargetVerdict {
  const { target, maxRatio, minPairs, unit, digits, what } = input;
  const goal = `target ≤ ${maxRatio} × HAProxy`;
  if (input.haproxyMissing !== undefined) {
    return { target, state: 'NOT SETTLED', text: `HAProxy not measured (${input.haproxyMissing})` };
  }
  const both = pairs(input.rbuddy, input.haproxy);
  const count = `${both.length} rbuddy/HAProxy pair${both.length === 1 ? '' : 's'}`;
  if (both.length === 0 || both.length < minPairs) {
    return {
      target,
      state: 'NOT SETTLED',
      text: `${count}, at least ${minPairs} needed (${goal})`,
    };
  }
  const r = median(both.map(([value]) => value));
  const h = median(both.map(([, value]) => value));
  const ratio = r / h;
  const withinPairs = median(both.map(([a, b]) => a / b));
  const state: VerdictState = Number.isFinite(ratio) && ratio <= maxRatio ? 'PASS' : 'FAIL';
  return {
    target,
    state,
    text:
      `rbuddy ${r.toFixed(digits)} ${unit}, HAProxy ${h.toFixed(digits)} ${unit} (${what} over ` +
      `${count}): ${fmtRatio(ratio)} × HAProxy, ${goal} (within pairs: median ` +
      `${fmtRatio(withinPairs)})`,
  };
}

/** Full sync in one snapshot mode: rbuddy's median seconds ≤ 1.03 × HAProxy's, ≥ 4 pairs. */
export function syncVerdict(
  mode: 'disk' | 'diskless',
  rbuddySeconds: readonly number[] | undefined,
  haproxySeconds: readonly number[] | undefined,
  haproxyMissing?: string,
  skipped?: string,
): TargetVerdict {
  const target = `full sync, ${mode} snapshot`;
  if (rbuddySeconds === undefined) {
    return { target, state: 'NOT SETTLED', text: `not measured (${skipped ?? 'not run'})` };
  }
  return ratioVerdict({
    target,
    rbuddy: rbuddySeconds,
    haproxy: haproxySeconds ?? [],
    maxRatio: MAX_SYNC_RATIO,
    minPairs: MIN_SYNC_PAIRS,
    unit: 's',
    digits: 2,
    what: 'median time',
    haproxyMissing,
  });
}

/** `WAIT 1` under load: the median of rbuddy's per-run p99 ≤ 1.10 × HAProxy's. */
export function waitVerdict(
  rbuddyP99Ms: readonly number[],
  haproxyP99Ms: readonly number[] | undefined,
  haproxyMissing?: string,
): TargetVerdict {
  return ratioVerdict({
    target: 'WAIT 1 p99 under load',
    rbuddy: rbuddyP99Ms,
    haproxy: haproxyP99Ms ?? [],
    maxRatio: MAX_WAIT_P99_RATIO,
    minPairs: 1,
    unit: 'ms',
    digits: 3,
    what: "median of the runs' p99",
    haproxyMissing,
  });
}

/** CPU seconds per GB relayed over the full syncs: rbuddy's median ≤ HAProxy's. */
export function cpuVerdict(
  rbuddyPerGb: readonly number[],
  haproxyPerGb: readonly number[] | undefined,
  haproxyMissing?: string,
  relayedBytes?: number | null,
): TargetVerdict {
  if (relayedBytes != null && relayedBytes < CPU_SNAPSHOT_BYTES) {
    return {
      target: 'proxy CPU per GB relayed',
      state: 'NOT SETTLED',
      text:
        `${gb(relayedBytes)} relayed per sync: too few clock ticks to compare ` +
        `(at least ${gb(CPU_SNAPSHOT_BYTES)}; run with RBUDDY_BENCH_MB=1024)`,
    };
  }
  return ratioVerdict({
    target: 'proxy CPU per GB relayed',
    rbuddy: rbuddyPerGb,
    haproxy: haproxyPerGb ?? [],
    maxRatio: MAX_CPU_RATIO,
    minPairs: MIN_SYNC_PAIRS,
    unit: 's/GB',
    digits: 3,
    what: 'median of the full syncs',
    haproxyMissing,
  });
}

/**
 * Peak RSS relaying the snapshot: the highest of the proxied full syncs ≤ 100 MB, settled only
 * when the snapshot was at least 1 GB (a smaller one holds fewer reads in flight and says
 * nothing about the target).
 */
export function rssVerdict(
  peakRssBytes: readonly number[],
  snapshotBytes: number | null | undefined,
): TargetVerdict {
  const target = 'proxy peak RSS relaying a 1 GB snapshot';
  const goal = `target ≤ ${MAX_PEAK_RSS_MB} MB`;
  if (peakRssBytes.length === 0) {
    return { target, state: 'NOT SETTLED', text: `no proxied full sync measured (${goal})` };
  }
  const peak = Math.max(...peakRssBytes) / MB;
  const syncs = `${peakRssBytes.length} full sync${peakRssBytes.length === 1 ? '' : 's'}`;
  if (snapshotBytes == null || snapshotBytes < RSS_SNAPSHOT_BYTES) {
    const size = snapshotBytes == null ? 'a snapshot of unknown size' : gb(snapshotBytes);
    return {
      target,
      state: 'NOT SETTLED',
      text:
        `peak ${peak.toFixed(1)} MB over ${syncs} relaying ${size}: not settled at this size ` +
        `(${goal} for a 1 GB snapshot; run with RBUDDY_BENCH_MB=1024)`,
    };
  }
  return {
    target,
    state: peak <= MAX_PEAK_RSS_MB ? 'PASS' : 'FAIL',
    text: `peak ${peak.toFixed(1)} MB (highest of ${syncs}, ${gb(snapshotBytes)}), ${goal}`,
  };
}

/** One line per verdict: `PASS  full sync, disk snapshot: …`. */
export function verdictLine(verdict: TargetVerdict): string {
  return `${verdict.state} — ${verdict.target}: ${verdict.text}`;
}

function gb(bytes: number): string {
  return `a ${(bytes / GB).toFixed(2)} GB snapshot`;
}

function fmtRatio(ratio: number): string {
  return Number.isFinite(ratio) ? ratio.toFixed(3) : 'n/a';
}
