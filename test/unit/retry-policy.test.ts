// exponentialBackoff: equal jitter (a delay in [ceiling/2, ceiling], ceiling = min(max,
// base·2^attempt)), the ceiling doubling per attempt up to maxMs, and giving up at maxAttempts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exponentialBackoff } from '../../src/retry-policy.js';

describe('exponentialBackoff', () => {
  test('the lowest random number waits half the ceiling, the highest the whole ceiling', () => {
    const low = exponentialBackoff({ baseMs: 100, maxMs: 10_000, random: () => 0 });
    const high = exponentialBackoff({ baseMs: 100, maxMs: 10_000, random: () => 1 });
    assert.deepEqual(
      [0, 1, 2, 3].map((attempt) => low(attempt, undefined)),
      [50, 100, 200, 400],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((attempt) => high(attempt, undefined)),
      [100, 200, 400, 800],
    );
  });

  test('every delay lies in [ceiling/2, ceiling], never below', () => {
    const policy = exponentialBackoff({ baseMs: 100, maxMs: 10_000 });
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const ceiling = Math.min(10_000, 100 * 2 ** attempt);
      for (let i = 0; i < 50; i += 1) {
        const delay = policy(attempt, undefined);
        assert.equal(typeof delay, 'number');
        assert.ok(
          typeof delay === 'number' && delay >= ceiling / 2 && delay <= ceiling,
          `attempt ${attempt}: ${String(delay)} outside [${ceiling / 2}, ${ceiling}]`,
        );
      }
    }
  });

  test('the ceiling stops at maxMs, even for huge attempt numbers', () => {
    const policy = exponentialBackoff({ baseMs: 100, maxMs: 5_000, random: () => 1 });
    assert.equal(policy(10, undefined), 5_000);
    assert.equal(policy(1_000, undefined), 5_000);
  });

  test('gives up (false) from maxAttempts on, and never without it', () => {
    const policy = exponentialBackoff({ baseMs: 1, maxMs: 1, maxAttempts: 3 });
    assert.equal(typeof policy(2, undefined), 'number');
    assert.equal(policy(3, undefined), false);
    assert.equal(policy(4, undefined), false);
    assert.equal(typeof exponentialBackoff()(1_000_000, undefined), 'number');
  });
});
