// What the kernel says about a process: CPU time from /proc/<pid>/stat and memory from
// /proc/<pid>/status. Linux only, which is where the benchmark runs.
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/<pid>/stat (100 nearly everywhere). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const text = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`getconf CLK_TCK said ${text}`);
    ticksPerSecond = value;
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process has used so far (its own threads, not its children). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: split after the last
  // ')'. What follows starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new Error(`cannot read utime/stime from /proc/${pid}/stat`);
  }
  return (utime + stime) / clockTicksPerSecond();
}

/** A `Vm…` line of /proc/<pid>/status (VmHWM = peak RSS, VmRSS = current), in bytes. */
export function memoryBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (match?.[1] === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * Throws unless `pid` runs the same node binary as this process: the figures must be the
 * proxy's own, not those of a wrapper (npx, a shell, the tsx CLI) that spawned it.
 */
export function assertIsNode(pid: number): void {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const node = realpathSync(process.execPath);
  if (exe !== node) throw new Error(`process ${pid} runs ${exe}, not node (${node})`);
}

/**
 * Seconds the process's main thread has spent runnable but waiting for a CPU
 * (/proc/<pid>/schedstat, second field): how much the machine's other load held it back.
 */
export function runQueueWaitSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ');
  const waitNs = Number(fields[1]);
  if (!Number.isFinite(waitNs)) throw new Error(`cannot read /proc/${pid}/schedstat`);
  return waitNs / 1e9;
}
