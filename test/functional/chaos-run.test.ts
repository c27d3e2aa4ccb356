// The chaos run in CI: two minutes of a fixed seed's overlapping faults against the built CLI
// (npm run chaos builds it first), which must end with no violated invariant and no failed
// read; the full syncs of its failovers are judged, and none as one into the active (the
// counterpart of chaos-checker-sees-full-sync.test.ts). The run itself is chaos/run.ts; its
// invariants and faults are in docs/reliability.md.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { trackChild, waitForExit } from '../../harness/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SEED = 20261202;

test(
  'npm run chaos: a seeded two-minute run holds every invariant with no failed read',
  { timeout: 600_000 },
  async () => {
    const child = spawn(
      'npm',
      ['run', '--silent', 'chaos', '--', '--minutes', '2', '--seed', String(SEED)],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr
      .setEncoding('utf8')
      .on('data', (text: string) => (stderr = (stderr + text).slice(-20_000)));
    assert.ok(await waitForExit(child, 590_000), 'the chaos run ended');
    const last = stdout.trimEnd().split('\n').at(-1) ?? '';
    const match =
      /^chaos: seed (\d+), (\d+) faults, (\d+) failovers, (\d+) checks, (\d+) violations, (\d+) failed reads$/.exec(
        last,
      );
    assert.ok(match !== null, `last line: ${last}\n${stdout}\n${stderr}`);
    const [, seed, faults, failovers, checks, violations, failedReads] = match.map(Number);
    const context = `${stdout}\n${stderr}`;
    assert.equal(seed, SEED);
    assert.ok((faults ?? 0) > 10, `faults were injected: ${context}`);
    assert.ok((checks ?? 0) > 100, `invariants were checked: ${context}`);
    assert.equal(violations, 0, context);
    assert.equal(failedReads, 0, context);
    assert.equal(child.exitCode, 0, context);
    // Every failover syncs its incoming node in full: those syncs were seen in the replicas'
    // logs and judged, and none was taken for one into the active (violations 0 above).
    const judged = /^ {2}I1 no full sync reaches the active holding data +(\d+) \/ (\d+)$/m.exec(
      stdout,
    );
    if ((failovers ?? 0) > 0) assert.ok(Number(judged?.[1] ?? 0) >= 1, context);
  },
);
