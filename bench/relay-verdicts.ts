// The relay part's verdicts: its measurements handed to the pure arithmetic of verdicts.ts,
// each target judged against HAProxy in the same run.
import type { RelayMeasurements, SyncAndWaitMeasurements } from './relay.js';
import {
  cpuVerdict,
  rssVerdict,
  syncVerdict,
  verdictLine,
  waitVerdict,
  type TargetVerdict,
} from './verdicts.js';

const GB = 1e9;

/** Why HAProxy has no figures in `m`, or undefined when it has. */
function haproxyMissing(m: SyncAndWaitMeasurements): string | undefined {
  if (m.references.paths.includes('haproxy')) return undefined;
  return m.references.skipped ?? 'not available';
}

/**
 * The targets, each judged against HAProxy in the same run (verdicts.ts): full sync per
 * snapshot mode, WAIT p99, CPU per GB, and peak RSS (settled only on a 1 GB snapshot).
 */
export function relayVerdicts(m: RelayMeasurements): TargetVerdict[] {
  const missing = haproxyMissing(m);
  const verdicts = (['disk', 'diskless'] as const).map((mode) =>
    syncVerdict(
      mode,
      m.full[mode]?.proxied.map((run) => run.seconds),
      m.fullFloor[mode]?.haproxy?.map((run) => run.seconds),
      missing,
      m.disklessSkipped,
    ),
  );
  verdicts.push(
    waitVerdict(
      m.wait.proxied.map((run) => run.p99Ms),
      m.waitFloor.haproxy?.map((run) => run.p99Ms),
      missing,
    ),
  );
  // Aligned by sync: a reference relay's CPU divided by the bytes rbuddy relayed in the same
  // repetition (same snapshot); NaN where either is missing, which drops the pair.
  const rbuddyCpu: number[] = [];
  const haproxyCpu: number[] = [];
  for (const mode of ['disk', 'diskless'] as const) {
    const proxied = m.full[mode]?.proxied ?? [];
    proxied.forEach((run, i) => {
      const gb = (run.proxy?.bytesFromMaster ?? NaN) / GB;
      rbuddyCpu.push((run.proxy?.cpuSeconds ?? NaN) / gb);
      haproxyCpu.push((m.fullFloor[mode]?.haproxy?.[i]?.relayCpuSeconds ?? NaN) / gb);
    });
  }
  const usage = (['disk', 'diskless'] as const).flatMap((mode) =>
    (m.full[mode]?.proxied ?? []).flatMap((run) => (run.proxy === undefined ? [] : [run.proxy])),
  );
  const relayed = usage.map((u) => u.bytesFromMaster);
  verdicts.push(
    cpuVerdict(rbuddyCpu, haproxyCpu, missing, relayed.length === 0 ? null : Math.min(...relayed)),
  );
  const sizes = usage.flatMap((u) => (u.snapshotBytes === null ? [] : [u.snapshotBytes]));
  verdicts.push(
    rssVerdict(
      usage.map((u) => u.peakRssBytes),
      sizes.length === 0 ? null : Math.min(...sizes),
    ),
  );
  return verdicts;
}

/** The verdict lines, one per target, as a list. */
export function verdictLines(verdicts: readonly TargetVerdict[]): string {
  return verdicts.map((verdict) => `- ${verdictLine(verdict)}`).join('\n');
}
