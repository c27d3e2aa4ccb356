// The chaos run in CI: two minutes of a fixed seed's overlapping faults against the built CLI
// (npm run chaos builds it first), which must end with no violated invariant and no failed
// read; the full syncs of its failovers are judged, and none as one into the active (the
// counterpart of chaos-checker-selftests.test.ts); the read-freshness check and a mid-run digest
// judged at least once (the schedule's calm windows). The run itself is chaos/run.ts; its
// invariants and faults are in docs/reliability.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForExit } from '../../harness/processes.js';
import { startChaos } from '../helpers/chaos-cli.js';

const SEED = 20261202;

test(
  'npm run chaos: a seeded two-minute run holds every invariant with no failed read',
  { timeout: 600_000 },
  async () => {
    const run = await startChaos(['--minutes', '2', '--seed', String(SEED)]);
    assert.ok(await waitForExit(run.child, 590_000), 'the chaos run ended');
    const stdout = run.stdout();
    const context = `${stdout}\n${run.stderr()}`;
    const summary = run.summary();
    assert.ok(summary !== null, `last line: ${context}`);
    assert.equal(summary.seed, SEED);
    assert.ok(summary.faults > 10, `faults were injected: ${context}`);
    assert.ok(summary.checks > 100, `invariants were checked: ${context}`);
    assert.equal(summary.violations, 0, context);
    assert.equal(summary.failedReads, 0, context);
    assert.equal(run.child.exitCode, 0, context);
    // Every failover syncs its incoming node in full: those syncs were seen in the replicas'
    // logs and judged, and none was taken for one into the active (violations 0 above).
    const judged = /^ {2}I1 no full sync reaches the active holding data +(\d+) \/ (\d+)$/m.exec(
      stdout,
    );
    if (summary.failovers > 0) assert.ok(Number(judged?.[1] ?? 0) >= 1, context);
    // The calm windows of the schedule (reviewer R11d, D3): the read-freshness check judged, and
    // a digest ran at a quiet point mid-run, not only at the settled end.
    const fresh =
      /^ {2}I1 the active holds what the master acknowledged 5 s before +(\d+) \/ (\d+)/m.exec(
        stdout,
      );
    assert.ok(Number(fresh?.[1] ?? 0) >= 1, `the freshness read check judged: ${context}`);
    const digests = /^digests at quiet points: (\d+) mid-run, (\d+) at the end/m.exec(stdout);
    assert.ok(Number(digests?.[1] ?? 0) >= 1, `a digest mid-run: ${context}`);
  },
);
