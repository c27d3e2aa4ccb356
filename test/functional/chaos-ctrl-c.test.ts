// Ctrl-C on `npm run chaos`: a terminal sends SIGINT to its whole foreground process group (npm,
// the shell, node, and whatever they started in that group). The run must end its schedule,
// heal and settle, print its report and stop what it started itself: rbuddy killed by the
// terminal's signal would be reported as "rbuddy never exits on its own", and nothing it
// started may outlive it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { waitForExit } from '../../harness/processes.js';
import { waitFor } from '../../harness/wait-for.js';
import { startChaos } from '../helpers/chaos-cli.js';

const SEED = 20261202;

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  /** Start time in clock ticks since boot: a PID reused by another process starts later. */
  start: string;
  command: string;
}

/** Every process now, from /proc. */
function processes(): Proc[] {
  const all: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      all.push({
        pid: Number(entry),
        state: fields[0] ?? '',
        ppid: Number(fields[1]),
        start: fields[19] ?? '',
        command: command.trim(),
      });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return all;
}

/** The descendants of `pid` now. */
function descendants(pid: number): Proc[] {
  const all = processes();
  const found: Proc[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const proc of all) {
      if (parents.has(proc.ppid) && !parents.has(proc.pid)) {
        parents.add(proc.pid);
        found.push(proc);
        grew = true;
      }
    }
  }
  return found;
}

/** Still running: the same process (PID and start time), not a zombie waiting to be reaped. */
function stillRunning(proc: Proc): boolean {
  const now = processes().find((p) => p.pid === proc.pid);
  return now !== undefined && now.start === proc.start && now.state !== 'Z';
}

test(
  'Ctrl-C on npm run chaos: the schedule ends, the run settles and reports, nothing is left',
  { timeout: 400_000 },
  async () => {
    // Its own process group, as a terminal's foreground job: the SIGINT goes to the group.
    const run = await startChaos(['--minutes', '5', '--seed', String(SEED)], {
      built: true,
      detached: true,
    });
    const { child } = run;
    const group = child.pid;
    assert.ok(group !== undefined);
    // Everything the run starts (redis-servers, rbuddy, the writer, their restarts), by PID.
    const started = new Map<string, Proc>();
    const watch = setInterval(() => {
      for (const proc of descendants(group)) started.set(`${proc.pid}/${proc.start}`, proc);
    }, 200);
    // Only if the run failed to stop them (or this test is cut short): end them, by PID. SIGTERM
    // first: the run then kills its children itself and unmounts its state dir on the way out.
    const endLeftovers = (signal: NodeJS.Signals): void => {
      for (const proc of started.values()) {
        if (stillRunning(proc)) process.kill(proc.pid, signal);
      }
    };
    const onExit = (): void => endLeftovers('SIGTERM');
    process.on('exit', onExit);
    try {
      await waitFor(() => run.stderr().includes('the schedule begins'), {
        what: 'the chaos schedule to begin',
        timeoutMs: 180_000,
      });
      // Faults under way: the first progress line comes 10 s into the schedule.
      await waitFor(() => /^chaos \d\d:\d\d\/05:00 /m.test(run.stderr()), {
        what: 'a progress line',
        timeoutMs: 60_000,
      });
      const before = descendants(group).map((proc) => proc.command);
      assert.ok(
        before.some((command) => command.includes('dist/cli.js')),
        `rbuddy runs: ${before.join('\n')}`,
      );
      process.kill(-group, 'SIGINT');
      assert.ok(await waitForExit(child, 300_000), 'the chaos run ended');
      clearInterval(watch);

      const stdout = run.stdout();
      const context = `${stdout}\n${run.stderr()}`;
      assert.match(run.stderr(), /Ctrl-C: ending the schedule/);
      assert.match(stdout, /^chaos report \(seed /m, 'the report is printed');
      const summary = run.summary();
      assert.ok(summary !== null, `the summary line: ${context}`);
      assert.match(stdout, /^ {2}rbuddy never exits on its own +1 \/ 1$/m, context);
      assert.doesNotMatch(stdout, /^VIOLATION /m, context);
      assert.equal(summary.violations, 0, context);
      assert.equal(summary.failedReads, 0, context);
      // npm's own status says "interrupted" (130, or killed by SIGINT), whatever the run found:
      // the shell between npm and node acts on the terminal's SIGINT once node has exited. The
      // report and its last line say how the run went.

      assert.ok(started.size >= 5, `the run's processes were seen: ${started.size}`);
      const left = [...started.values()].filter(stillRunning);
      assert.deepEqual(
        left.map((proc) => `${proc.pid} ${proc.command}`),
        [],
        'no process the run started outlives it',
      );
    } finally {
      clearInterval(watch);
      endLeftovers('SIGTERM');
      await waitFor(() => ![...started.values()].some(stillRunning), {
        what: "the run's processes to end",
        timeoutMs: 15_000,
      }).catch(() => endLeftovers('SIGKILL'));
      process.off('exit', onExit);
    }
  },
);
