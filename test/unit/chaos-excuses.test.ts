// The chaos checker's excuses (chaos/checker.ts), on a clock the test moves: a node the run broke
// is excused while broken and briefly after; a node back empty is excused for wrong answers only
// until rbuddy could hold it, and for errors only until rbuddy could replace it once nothing else
// is in the way. Before, a node back empty was excused until rbuddy was next `healthy`, with no
// bound: rbuddy naming an empty node active for as long as other faults kept it unhealthy went
// unjudged (27 % of the reads of a 30-minute run were excused).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BACK_EMPTY_HOLD_MS, BACK_EMPTY_REPLACE_MS, Checker } from '../../chaos/checker.js';
import { History } from '../../chaos/history.js';
import { KeyReference } from '../../chaos/readers.js';
import { FIXED_KEYS } from '../../chaos/topology.js';

const dir = mkdtempSync(join(tmpdir(), 'rbuddy-chaos-excuses-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

function rig(): { checker: Checker; advance: (ms: number) => void } {
  let now = 1_000_000;
  runs += 1;
  const history = new History(join(dir, `history-${runs}.jsonl`), () => now);
  return {
    checker: new Checker(history),
    advance: (ms) => {
      now += ms;
    },
  };
}

const A = '127.0.0.1:7001';

test('a node the run stopped is excused while stopped and for 2 s after, then judged', () => {
  const { checker, advance } = rig();
  assert.equal(checker.isImpaired(A), false);
  checker.impair(A);
  advance(60_000);
  assert.equal(checker.isImpaired(A), true);
  assert.equal(checker.wrongAnswerExcused(A), true);
  checker.healed(A);
  advance(1_999);
  assert.equal(checker.isImpaired(A), true);
  advance(2);
  assert.equal(checker.isImpaired(A), false);
  assert.equal(checker.wrongAnswerExcused(A), false);
});

test('a node back empty: wrong answers excused for the hold bound, errors for the replace bound', () => {
  const { checker, advance } = rig();
  checker.impair(A);
  checker.obstacle(true);
  advance(3_000);
  checker.healed(A, true);
  checker.obstacle(false);
  advance(BACK_EMPTY_HOLD_MS);
  assert.equal(checker.wrongAnswerExcused(A), true);
  advance(1);
  assert.equal(checker.wrongAnswerExcused(A), false, 'nils past the hold bound are judged');
  assert.equal(checker.isImpaired(A), true);
  advance(BACK_EMPTY_REPLACE_MS - BACK_EMPTY_HOLD_MS);
  assert.equal(checker.isImpaired(A), false, 'errors past the replace bound are judged');
});

test('another fault in the way extends the error excuse until it ends, then the bound runs', () => {
  const { checker, advance } = rig();
  checker.impair(A);
  checker.healed(A, true);
  checker.obstacle(true); // the master killed, say: the other node cannot sync
  advance(3 * BACK_EMPTY_REPLACE_MS);
  assert.equal(checker.isImpaired(A), true);
  assert.equal(checker.wrongAnswerExcused(A), false, 'a master down never excuses nils');
  checker.obstacle(false);
  advance(BACK_EMPTY_REPLACE_MS);
  assert.equal(checker.isImpaired(A), true);
  advance(1);
  assert.equal(checker.isImpaired(A), false);
});

test('rbuddy stopped: it cannot hold the node, so its nils are excused until the bound after it is back', () => {
  const { checker, advance } = rig();
  checker.impair(A);
  checker.healed(A, true);
  checker.impair('rbuddy');
  advance(30_000);
  assert.equal(checker.wrongAnswerExcused(A), true);
  checker.healed('rbuddy');
  // Its own settling time (2 s), then the hold bound.
  advance(2_000 + BACK_EMPTY_HOLD_MS);
  assert.equal(checker.wrongAnswerExcused(A), true);
  advance(1);
  assert.equal(checker.wrongAnswerExcused(A), false);
});

test('the excuse ends when rbuddy is healthy (2 s later) or the node answers with the data', () => {
  const { checker, advance } = rig();
  checker.impair(A);
  checker.healed(A, true);
  checker.obstacle(true);
  advance(4_000);
  checker.sawHealthy();
  advance(2_001);
  assert.equal(checker.isImpaired(A), false, 'healthy ends it, an obstacle or not');
  assert.equal(checker.longestBackEmptyMs, 4_000);

  const B = '127.0.0.1:7002';
  checker.impair(B);
  checker.healed(B, true);
  advance(500);
  checker.recovered(B);
  assert.equal(checker.isImpaired(B), false);
  assert.equal(checker.wrongAnswerExcused(B), false);
});

test('the keys an active must hold: all it held, and what the last active held when named', () => {
  const keys = new KeyReference();
  const X = '127.0.0.1:7001';
  const Y = '127.0.0.1:7002';
  keys.named(X, 0, undefined);
  assert.equal(keys.required(), FIXED_KEYS + 1, 'at first, the fixed keys and the probe');
  keys.held(12_001);
  keys.named(X, 1_000, 14_000);
  assert.equal(keys.required(), 12_001, 'the serving active never loses a key');
  // The master lost keys while X serves: X is held stale and must keep all it had.
  keys.named(X, 2_000, 5_000);
  assert.equal(keys.required(), 12_001, 'a master down to 5,000 keys excuses no loss');
  // A switch to Y, a copy of the master that lost them: it must hold what the master holds.
  keys.named(Y, 3_000, 5_000);
  assert.equal(keys.required(), Math.floor(0.9 * 5_000));
  keys.held(6_000);
  // The master grows again while rbuddy is down and Y serves, stale: Y is judged by its own keys.
  keys.named(Y, 4_000, 9_000);
  assert.equal(keys.required(), 6_000);
  // Y came back empty and took the master's copy: a new tenure, from what the master holds.
  const yBack = (n: string): number | undefined => (n === Y ? 4_500 : undefined);
  keys.named(Y, 5_000, 2_500, yBack);
  assert.equal(keys.required(), Math.floor(0.9 * 2_500));
  keys.named(Y, 6_000, 9_000, yBack);
  assert.equal(keys.required(), Math.floor(0.9 * 2_500), 'the same return starts no new tenure');
  // A switch to X while the master restarted empty: never under the fixed keys.
  keys.named(X, 7_000, 0);
  assert.equal(keys.required(), FIXED_KEYS + 1);
});

test('a switch away from an active the run emptied starts from the keys of the node rbuddy turns to', () => {
  const keys = new KeyReference();
  const X = '127.0.0.1:7001';
  const Y = '127.0.0.1:7002';
  keys.named(X, 0, 12_000);
  keys.held(12_000);
  // X killed and back empty at 5 s; rbuddy turns to Y, the old active, stale at 10,400 keys.
  const xBack = (n: string): number | undefined => (n === X ? 5_000 : undefined);
  keys.named(Y, 6_000, 12_000, xBack);
  assert.equal(keys.required(), FIXED_KEYS + 1);
  keys.held(10_400);
  assert.equal(keys.required(), 10_400, 'then Y must keep what it holds');
  // Without X emptied, the same switch is judged against X's keys.
  const fresh = new KeyReference();
  fresh.named(X, 0, 12_000);
  fresh.held(12_000);
  fresh.named(Y, 6_000, 12_000);
  assert.equal(fresh.required(), Math.floor(0.9 * 12_000));
});
