// The RESP port's input budget, pure (InputBudget with plain objects for connections): under the
// limit nothing happens; a read that takes the total past it closes the connections holding the
// most, biggest first, not the one that read; what a holder releases is returned; and over random
// sequences of reads, completed commands and closes the total is always the sum of what each holds
// and never above the limit once the call returns, with no more closed than it takes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CLIENTS_INPUT_BUDGET, InputBudget } from '../../src/proxy/input-budget.js';
import { CLIENT_MAX_QUERY_BYTES } from '../../src/resp/limits.js';

interface Fake {
  name: string;
}

const fake = (name: string): Fake => ({ name });
const names = (holders: readonly Fake[]): string[] => holders.map((holder) => holder.name);

describe('InputBudget', () => {
  it('holds bytes under the limit without closing anyone, and follows each holder', () => {
    const budget = new InputBudget<Fake>(100);
    const [a, b] = [fake('a'), fake('b')];
    assert.deepEqual(budget.hold(a, 60), []);
    assert.deepEqual(budget.hold(b, 40), []);
    assert.deepEqual(budget.status(), { heldBytes: 100, peakBytes: 100, limitBytes: 100 });
    // A command completed: a holds what is left of the next one.
    assert.deepEqual(budget.hold(a, 5), []);
    assert.equal(budget.heldBy(a), 5);
    assert.deepEqual(budget.status(), { heldBytes: 45, peakBytes: 100, limitBytes: 100 });
  });

  it("closes the biggest holder, not the one whose read crossed the line (a replica's REPLCONF)", () => {
    const budget = new InputBudget<Fake>(1000);
    const [attacker, replica] = [fake('attacker'), fake('replica')];
    budget.hold(attacker, 990);
    assert.deepEqual(names(budget.hold(replica, 40)), ['attacker']);
    assert.equal(budget.heldBy(attacker), 0);
    assert.equal(budget.heldBy(replica), 40);
    assert.equal(budget.status().heldBytes, 40);
  });

  it('closes the one that read when it holds the most', () => {
    const budget = new InputBudget<Fake>(100);
    const [small, big, reader] = [fake('small'), fake('big'), fake('reader')];
    budget.hold(small, 10);
    budget.hold(big, 30);
    assert.deepEqual(names(budget.hold(reader, 61)), ['reader']);
    assert.equal(budget.status().heldBytes, 40);
    // One is always enough from under the limit: a read adds at most what its connection holds.
    budget.hold(reader, 50);
    assert.deepEqual(names(budget.hold(small, 25)), ['reader']);
    assert.equal(budget.status().heldBytes, 55);
  });

  it('takes the holder that began holding first among equals', () => {
    const budget = new InputBudget<Fake>(100);
    const [first, second] = [fake('first'), fake('second')];
    budget.hold(first, 50);
    budget.hold(second, 50);
    assert.deepEqual(names(budget.hold(second, 51)), ['second']);
    budget.hold(second, 50);
    assert.deepEqual(names(budget.hold(fake('third'), 1)), ['first']);
  });

  it('returns what a closed or handed-over connection held', () => {
    const budget = new InputBudget<Fake>(100);
    const a = fake('a');
    budget.hold(a, 70);
    budget.release(a);
    budget.release(a);
    assert.equal(budget.status().heldBytes, 0);
    assert.deepEqual(budget.hold(fake('b'), 100), []);
  });

  it('by default holds 32 connections at the per-connection bound, not a 33rd', () => {
    const budget = new InputBudget<Fake>();
    assert.equal(budget.limitBytes, CLIENTS_INPUT_BUDGET);
    const holders = Array.from({ length: 33 }, (_, i) => fake(`c${i}`));
    const closed = holders.flatMap((holder) => budget.hold(holder, CLIENT_MAX_QUERY_BYTES));
    assert.equal(closed.length, 1);
    assert.ok(budget.status().heldBytes <= CLIENTS_INPUT_BUDGET);
  });

  it('never drifts: random reads, completed commands and closes (property)', () => {
    const holders = 6;
    const op = fc.oneof(
      // A read: the holder's incomplete command grows.
      fc.record({
        kind: fc.constant('read' as const),
        who: fc.nat(holders - 1),
        bytes: fc.integer({ min: 1, max: 400 }),
      }),
      // A command completed: what is left of the next one (maybe nothing).
      fc.record({
        kind: fc.constant('complete' as const),
        who: fc.nat(holders - 1),
        left: fc.nat(50),
      }),
      fc.record({ kind: fc.constant('close' as const), who: fc.nat(holders - 1) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.array(op, { maxLength: 80 }),
        (limit, ops) => {
          const budget = new InputBudget<Fake>(limit);
          const all = Array.from({ length: holders }, (_, i) => fake(`c${i}`));
          // What each connection's framer holds, as the connection would report it.
          const buffered = new Map<Fake, number>(all.map((holder) => [holder, 0]));
          let peak = 0;
          for (const step of ops) {
            const holder = all[step.who] ?? fake('none');
            let closed: Fake[] = [];
            if (step.kind === 'close') {
              budget.release(holder);
              buffered.set(holder, 0);
            } else {
              const now =
                step.kind === 'read' ? (buffered.get(holder) ?? 0) + step.bytes : step.left;
              buffered.set(holder, now);
              const before = new Map(buffered);
              closed = budget.hold(holder, now);
              // Biggest first: each closed holder held at least as much as any that stays.
              const kept = all.filter((h) => !closed.includes(h)).map((h) => before.get(h) ?? 0);
              for (const gone of closed) {
                assert.ok((before.get(gone) ?? 0) >= Math.max(0, ...kept));
              }
              // And no more than needed: without the last one closed, it was still over.
              const last = closed.at(-1);
              if (last !== undefined) {
                const totalBefore = [...before.values()].reduce((a, b) => a + b, 0);
                const freed = closed.reduce((sum, gone) => sum + (before.get(gone) ?? 0), 0);
                assert.ok(totalBefore - freed + (before.get(last) ?? 0) > limit);
              }
            }
            for (const gone of closed) buffered.set(gone, 0);
            const sum = [...buffered.values()].reduce((a, b) => a + b, 0);
            for (const h of all) assert.equal(budget.heldBy(h), buffered.get(h));
            assert.equal(budget.status().heldBytes, sum);
            assert.ok(sum <= limit, `held ${sum} over the limit ${limit}`);
            peak = Math.max(peak, sum);
            assert.equal(budget.status().peakBytes, peak);
          }
          for (const h of all) budget.release(h);
          assert.equal(budget.status().heldBytes, 0);
        },
      ),
    );
  });
});
