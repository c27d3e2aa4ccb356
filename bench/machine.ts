// What the machine was like during a run: shown above each results table, so that figures from
// a busy shared machine can be told from quiet ones.
import { availableParallelism, cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { clockTicksPerSecond } from './proc-stats.js';

/** The 1, 5 and 15 minute load averages: on a shared machine, how busy the others were. */
export function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

export function describeMachine(redisVersion: string): Record<string, string> {
  return {
    date: new Date().toISOString(),
    nproc: String(availableParallelism()),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    'load average at start': loadAverage(),
    kernel: release(),
    node: process.version,
    redis: redisVersion,
    'clock ticks': `${clockTicksPerSecond()}/s`,
  };
}

/** A warning when other load kept the CPUs busy (1-minute load average above the CPU count). */
export function busyWarning(machine: Record<string, string>): string | undefined {
  const cpus = Number(machine['nproc']);
  const loads = [machine['load average at start'], machine['load average at end']].map((text) =>
    Number(text?.split(' ')[0]),
  );
  const worst = Math.max(...loads);
  if (!(worst > cpus)) return undefined;
  return (
    `Warning: the machine was busy (1-minute load average up to ${worst.toFixed(1)} on ` +
    `${cpus} CPUs), so these figures carry more noise than usual; compare the per-run values.`
  );
}
