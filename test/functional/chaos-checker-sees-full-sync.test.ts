// The chaos checker must be able to fail: a full sync forced into the active behind rbuddy's
// back (chaos/faults.ts, `selftest-full-sync-active`: the same data from a decoy master, flushed
// and reloaded in a few ms, which no read and no key count notices) is reported as an I1
// violation, with its timeline and the replica's log. The counterpart, normal failovers whose
// standby syncs are judged and not reported, is the CI run (chaos-run.test.ts).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { waitForExit } from '../../harness/processes.js';
import { startChaos } from '../helpers/chaos-cli.js';

test(
  'npm run chaos: a full sync forced into the active is reported as an I1 violation',
  { timeout: 300_000 },
  async () => {
    const run = await startChaos(
      ['--minutes', '0.3', '--seed', '1', '--only', 'selftest-full-sync-active'],
      { built: true },
    );
    assert.ok(await waitForExit(run.child, 290_000), 'the chaos run ended');
    const stdout = run.stdout();
    const context = `${stdout}\n${run.stderr()}`;
    const summary = run.summary();
    assert.ok(summary !== null, context);
    assert.ok(summary.violations >= 1, `a violation: ${context}`);
    assert.equal(run.child.exitCode, 1, context);

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
