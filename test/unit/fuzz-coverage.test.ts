// A short, bounded run of the coverage-guided fuzzer (fuzz/coverage.ts) on each framer, as CI's
// share of `npm run fuzz:framers`: a fixed seed and a fixed number of inputs (no clock), no
// invariant broken, and the coverage feedback working (mutants reach blocks the corpus did not).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzzWithCoverage, type TargetName } from '../../fuzz/coverage.js';

describe('the coverage-guided fuzzer of the framers, briefly', () => {
  for (const target of ['command', 'replication'] satisfies TargetName[]) {
    it(`${target}: 1,500 inputs from seed 11, no invariant broken, coverage grows`, async () => {
      const result = await fuzzWithCoverage({
        target,
        seed: 11,
        maxExecs: 1_500,
        deadline: Infinity,
        save: false,
      });
      assert.equal(result.failure, undefined, String(result.failure?.error));
      assert.equal(result.execs, 1_500);
      assert.ok(result.initialCoverage > 0, 'the corpus covers the framer');
      assert.ok(
        result.coverage > result.initialCoverage,
        `mutants found new blocks (${result.initialCoverage} → ${result.coverage})`,
      );
    });
  }
});
