// The input-budget attack's inputs (harness/input-hogs.ts) and the fuzzer's plans for it
// (fuzz/budget-case.ts): each command is one rbuddy's framer accepts and holds without ever
// completing, within the per-connection limits, and every plan holds more than the budget.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { incompleteCommand } from '../../harness/input-hogs.js';
import { BUDGET_EVERY, MAX_HOGS, budgetPlan, isBudgetCase } from '../../fuzz/budget-case.js';
import { casePrng } from '../../fuzz/prng.js';
import { CommandFramer } from '../../src/resp/command-framer.js';
import { CLIENTS_INPUT_BUDGET } from '../../src/proxy/input-budget.js';
import {
  CLIENT_LIMITS,
  CLIENT_MAX_QUERY_BYTES,
  UNAUTHENTICATED_LIMITS,
} from '../../src/resp/limits.js';

const limitsFor = (authenticated: boolean) =>
  authenticated ? CLIENT_LIMITS : UNAUTHENTICATED_LIMITS;

describe('incompleteCommand', () => {
  it('is held whole by the framer under the limits, never completed, at most a megabyte', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), (auth, fill) => {
        const command = incompleteCommand({ authenticated: auth, fill });
        const framer = new CommandFramer(limitsFor(auth));
        assert.deepEqual(framer.push(command), []);
        assert.equal(framer.buffered, command.length);
        assert.ok(command.length <= CLIENT_MAX_QUERY_BYTES);
      }),
      { numRuns: 60 },
    );
  });

  it('is the start of a real command: the missing bytes complete it', () => {
    for (const authenticated of [true, false]) {
      const command = incompleteCommand({ authenticated, fill: 0.9 });
      const framer = new CommandFramer(limitsFor(authenticated));
      framer.push(command);
      const size = authenticated ? CLIENT_MAX_QUERY_BYTES : UNAUTHENTICATED_LIMITS.maxBulkLen;
      const sent = command.length - command.lastIndexOf(`$${size}\r\n`) - `$${size}\r\n`.length;
      const frames = framer.push(
        Buffer.concat([Buffer.alloc(size - sent, 0x61), Buffer.from('\r\n')]),
      );
      assert.equal(frames.length, 1);
      const args = frames[0]?.args ?? [];
      assert.equal(args.length, authenticated ? 2 : UNAUTHENTICATED_LIMITS.maxMultibulkLen);
      assert.equal(args.at(-1)?.length, size);
    }
  });

  it('grows with fill: a megabyte after AUTH, ten bulks of 16 KB before', () => {
    const auth = (fill: number) => incompleteCommand({ authenticated: true, fill }).length;
    const stranger = (fill: number) => incompleteCommand({ authenticated: false, fill }).length;
    assert.ok(auth(0) < 100);
    assert.ok(auth(0.5) < auth(1));
    assert.ok(auth(1) > CLIENT_MAX_QUERY_BYTES - 100);
    assert.ok(stranger(0) > 9 * UNAUTHENTICATED_LIMITS.maxBulkLen);
    assert.ok(stranger(1) < 10 * (UNAUTHENTICATED_LIMITS.maxBulkLen + 20));
  });
});

describe("the fuzzer's input-budget case", () => {
  it('comes a few times in a short run, at the same indices whatever the seed', () => {
    const indices = Array.from({ length: 3_000 }, (_, i) => i).filter(isBudgetCase);
    assert.deepEqual(indices, [300, 900, 1500, 2100, 2700]);
    assert.equal(Array.from({ length: 10_000 }, (_, i) => i).filter(isBudgetCase).length, 17);
    assert.equal(BUDGET_EVERY % 2, 0);
  });

  it('every plan holds more than the budget, on fewer connections than --max-clients allows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(100_000), (seed, index) => {
        const plan = budgetPlan(casePrng(seed, index));
        assert.equal(plan.fills.length, plan.connections);
        assert.ok(plan.connections <= MAX_HOGS && MAX_HOGS <= 1000 / 2);
        // The length grows with fill (above): the least filled command bounds every other.
        const least = Math.min(...plan.fills);
        assert.ok(least >= 0.8 && Math.max(...plan.fills) <= 1);
        const command = incompleteCommand({ authenticated: plan.authenticated, fill: least });
        const held = plan.connections * command.length;
        assert.ok(held > CLIENTS_INPUT_BUDGET, `${held} bytes`);
        assert.ok(plan.holdMs >= 200 && plan.holdMs <= 1_500);
      }),
      { numRuns: 200 },
    );
  });

  it('is a function of the seed and the index', () => {
    assert.deepEqual(budgetPlan(casePrng(7, 300)), budgetPlan(casePrng(7, 300)));
    assert.notDeepEqual(budgetPlan(casePrng(7, 300)), budgetPlan(casePrng(7, 900)));
  });
});
