// The chaos checker must be able to fail. Each self-test fault (chaos/faults.ts, never drawn
// unless named in `--only`) breaks an invariant behind rbuddy's back, and the run must report it
// as a violation, with its timeline, and exit 1:
// - `selftest-full-sync-active`: a full sync forced into the active (the same data from a decoy
//   master, flushed and reloaded in a few ms, which no read and no key count notices): I1 in the
//   replica's own log;
// - `selftest-lose-keys`: a third of the active's keys deleted, the probe key kept, so every read
//   still finds its value: I1's key count;
// - `selftest-stale-active`: `CLIENT PAUSE 25000 WRITE` on the active, which then applies nothing
//   of its stream while it answers every read (reviewer R11c, C1): the freshness of its reads
//   and its lag behind the master's offset.
// The counterpart, normal failovers judged and not reported, is the CI run (chaos-run.test.ts).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { waitForExit } from '../../harness/processes.js';
import { startChaos } from '../helpers/chaos-cli.js';

/** Runs the self-test `kind` alone; returns its stdout and its violation lines. */
async function selftest(kind: string): Promise<{ stdout: string; violations: string[] }> {
  const run = await startChaos(['--minutes', '0.3', '--seed', '1', '--only', kind], {
    built: true,
  });
  assert.ok(await waitForExit(run.child, 290_000), 'the chaos run ended');
  const stdout = run.stdout();
  const context = `${stdout}\n${run.stderr()}`;
  const summary = run.summary();
  assert.ok(summary !== null, context);
  assert.ok(summary.violations >= 1, `a violation: ${context}`);
  assert.equal(run.child.exitCode, 1, context);
  assert.match(stdout, new RegExp(`^reproduce: .*--only ${kind}$`, 'm'));
  // A run with a violation keeps its directory; this one was expected.
  const dir = /^history and logs: (\S*rbuddy-chaos-1-\S+)$/m.exec(stdout)?.[1];
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  const violations = stdout.split('\n').filter((line) => line.startsWith('VIOLATION '));
  return { stdout, violations };
}

test(
  'npm run chaos: a full sync forced into the active is reported as an I1 violation',
  { timeout: 300_000 },
  async () => {
    const { stdout, violations } = await selftest('selftest-full-sync-active');
    const reported = violations.filter((line) =>
      line.includes('I1 no full sync reaches the active holding data'),
    );
    assert.ok(reported.length >= 1, `the forced full sync is reported: ${stdout}`);
    assert.match(reported[0] ?? '', /"verdict":"INTO THE ACTIVE"/);
    assert.match(reported[0] ?? '', /Full resync from master/, 'the log lines are quoted');
    assert.match(stdout, /note chaos .*selftest: the active takes a full sync/, 'in its timeline');
    assert.match(stdout, /^logs: .*replica-a\/redis\.log/m, "the replicas' logs are named");
  },
);

test(
  "npm run chaos: a third of the active's keys lost, the probe key kept, is reported by I1's key count",
  { timeout: 300_000 },
  async () => {
    const { stdout, violations } = await selftest('selftest-lose-keys');
    const reported = violations.filter((line) =>
      line.includes('I1 the active answers with the data'),
    );
    assert.ok(reported.length >= 1, `the lost keys are reported: ${stdout}`);
    assert.match(reported[0] ?? '', /"value":"chaos-probe-value"/, 'the probe still answered');
    assert.match(reported[0] ?? '', /"required":\d+/);
    assert.match(stdout, /note chaos .*selftest: a third of the active's keys deleted/);
  },
);

test(
  "npm run chaos: an active that stops applying its stream is reported by its reads' freshness and its lag",
  { timeout: 300_000 },
  async () => {
    const { stdout, violations } = await selftest('selftest-stale-active');
    const stale = violations.filter((line) =>
      line.includes('I1 the active holds what the master acknowledged 5 s before'),
    );
    assert.ok(stale.length >= 1, `the stale reads are reported: ${stdout}`);
    assert.match(stale[0] ?? '', /where the master acknowledged \d+ 5\.\d s before/);
    const lag = violations.filter((line) =>
      line.includes('the active lags the master by at most 5 s while healthy'),
    );
    assert.ok(lag.length >= 1, `the lag is reported: ${stdout}`);
    assert.match(stdout, /note chaos .*selftest: the active's stream paused/, 'in its timeline');
    assert.match(stdout, /^largest lag of the active behind the master: (\d+\.\d) s/m);
  },
);
