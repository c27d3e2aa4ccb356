// `npm run chaos` as the functional tests run it: the child, its output as it comes, and its
// last line parsed. `built: true` skips npm's prechaos (no build racing the other tests' use of
// dist/): dist/ of this tree is built here first if stale, as fuzz-live does.
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { trackChild } from '../../harness/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The run's last line: `chaos: seed S, F faults, N failovers, C checks, V violations, R failed reads`. */
export const SUMMARY =
  /^chaos: seed (\d+), (\d+) faults, (\d+) failovers, (\d+) checks, (\d+) violations, (\d+) failed reads$/;

export interface ChaosRun {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout(): string;
  /** The last 20,000 characters of stderr (the progress lines). */
  stderr(): string;
  /** The summary line's numbers, or null when the last line is not one. */
  summary(): {
    seed: number;
    faults: number;
    failovers: number;
    checks: number;
    violations: number;
    failedReads: number;
  } | null;
}

export async function startChaos(
  args: readonly string[],
  options: { built?: boolean; detached?: boolean } = {},
): Promise<ChaosRun> {
  if (options.built === true) {
    await promisify(execFile)('bash', ['scripts/build-if-stale.sh'], { cwd: root });
  }
  const child = spawn(
    'npm',
    [
      'run',
      '--silent',
      ...(options.built === true ? ['--ignore-scripts'] : []),
      'chaos',
      '--',
      ...args,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached === true },
  );
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr
    .setEncoding('utf8')
    .on('data', (text: string) => (stderr = (stderr + text).slice(-20_000)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    summary: () => {
      const match = SUMMARY.exec(stdout.trimEnd().split('\n').at(-1) ?? '');
      if (match === null) return null;
      const [seed, faults, failovers, checks, violations, failedReads] = match.slice(1).map(Number);
      return {
        seed: seed ?? 0,
        faults: faults ?? 0,
        failovers: failovers ?? 0,
        checks: checks ?? 0,
        violations: violations ?? 0,
        failedReads: failedReads ?? 0,
      };
    },
  };
}
