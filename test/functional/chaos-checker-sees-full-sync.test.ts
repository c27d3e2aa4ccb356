// The chaos checker must be able to fail: a full sync forced into the active behind rbuddy's
// back (chaos/faults.ts, `selftest-full-sync-active`: the same data from a decoy master, flushed
// and reloaded in a few ms, which no read and no key count notices) is reported as an I1
// violation, with its timeline and the replica's log. The counterpart, normal failovers whose
// standby syncs are judged and not reported, is the CI run (chaos-run.test.ts).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { trackChild, waitForExit } from '../../harness/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SUMMARY =
  /^chaos: seed (\d+), (\d+) faults, (\d+) failovers, (\d+) checks, (\d+) violations, (\d+) failed reads$/;

test(
  'npm run chaos: a full sync forced into the active is reported as an I1 violation',
  { timeout: 300_000 },
  async () => {
    // npm run chaos without its prechaos (--ignore-scripts below: no build racing the other
    // tests' use of dist/), so dist/ of this tree is built here if stale, as fuzz-live does.
    await promisify(execFile)('bash', ['scripts/build-if-stale.sh'], { cwd: root });
    const child = spawn(
      'npm',
      [
        'run',
        '--silent',
        '--ignore-scripts',
        'chaos',
        '--',
        '--minutes',
        '0.3',
        '--seed',
        '1',
        '--only',
        'selftest-full-sync-active',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr
      .setEncoding('utf8')
      .on('data', (text: string) => (stderr = (stderr + text).slice(-20_000)));
    assert.ok(await waitForExit(child, 290_000), 'the chaos run ended');
    const context = `${stdout}\n${stderr}`;
    const match = SUMMARY.exec(stdout.trimEnd().split('\n').at(-1) ?? '');
    assert.ok(match !== null, context);
    assert.ok(Number(match[5]) >= 1, `a violation: ${context}`);
    assert.equal(child.exitCode, 1, context);

    const violations = stdout.split('\n').filter((line) => line.startsWith('VIOLATION '));
    const reported = violations.filter((line) =>
      line.includes('I1 no full sync reaches the active holding data'),
    );
    assert.ok(reported.length >= 1, `the forced full sync is reported: ${context}`);
    assert.match(reported[0] ?? '', /"verdict":"INTO THE ACTIVE"/);
    assert.match(reported[0] ?? '', /Full resync from master/, 'the log lines are quoted');
    assert.match(stdout, /note chaos .*selftest: the active takes a full sync/, 'in its timeline');
    assert.match(stdout, /^logs: .*replica-a\/redis\.log/m, "the replicas' logs are named");
    assert.match(stdout, /^reproduce: .*--only selftest-full-sync-active$/m);
    // A run with a violation keeps its directory; this one was expected.
    const dir = /^history and logs: (\S*rbuddy-chaos-1-\S+)$/m.exec(stdout)?.[1];
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  },
);
