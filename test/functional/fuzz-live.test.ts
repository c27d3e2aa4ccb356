// CI's share of `npm run fuzz`: a few thousand generated RESP and HTTP inputs, from a fixed seed,
// against the built CLI while a replica streams through it. The fuzzer itself checks that rbuddy
// stays up, its RSS stays under the limit and the replica's stream is byte-exact with no full
// resync; here its exit code and its last line must say so. Five of the cases are the input-budget
// attack (fuzz/budget-case.ts): a few hundred connections holding incomplete commands, which
// rbuddy must close, the biggest first, once they pass its budget.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runNode } from '../../harness/processes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CASES = 3_000;

describe('npm run fuzz, briefly', () => {
  it(`${CASES} cases from seed 7: no crash, RSS bounded, the stream intact`, async () => {
    // What `prefuzz` does after ensure-env.sh (which `npm test` has run): dist/ of this tree.
    await promisify(execFile)('bash', ['scripts/build-if-stale.sh'], { cwd: root });
    const run = await runNode(
      ['--import', 'tsx', 'fuzz/run.ts', '--cases', String(CASES), '--seed', '7'],
      { cwd: root, timeoutMs: 280_000 },
    );
    const lines = run.stdout.trimEnd().split('\n');
    const last = lines.at(-1) ?? '';
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(last, /^fuzz: 3000 cases, 0 crashes, peak RSS \d+ MB, stream intact$/);
    assert.ok(lines.includes('fuzz: replay with --seed 7'), run.stdout);
    const budget = lines.find((line) => line.startsWith('fuzz: input budget: '));
    const [, cases, connections, closed] =
      /^fuzz: input budget: (\d+) cases, (\d+) connections, \d+ sent .*, (\d+) closed by the budget/.exec(
        budget ?? '',
      ) ?? [];
    assert.equal(cases, '5', run.stdout);
    // Each case holds more than the budget: with seed 7 most of their connections are closed for
    // it (1,604 of 1,778).
    assert.ok(Number(closed) > Number(connections) / 2, run.stdout);
  });
});
