// Whether a full sync seen in a replica's log reached the node rbuddy named active while it held
// data (harness/active-full-syncs.ts): the check the chaos run makes of I1 (docs/design.md,
// "Invariants"), fed rbuddy's answers, key counts and syncs as the run records them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActiveSyncJudge, type SyncVerdict } from '../../harness/active-full-syncs.js';

const A = '127.0.0.1:7001';
const B = '127.0.0.1:7002';
const OLD_PID = 100;
const NEW_PID = 200;

/** rbuddy's /v1/status answers every 250 ms over [from, to): asked at t, answered 5 ms later. */
function statuses(
  judge: ActiveSyncJudge,
  from: number,
  to: number,
  active: string | null,
  epoch: number | null,
): void {
  for (let t = from; t < to; t += 250) judge.role({ askedAt: t, answeredAt: t + 5, active, epoch });
}

/** The reader's GET /active answers every 25 ms over [from, to). */
function activeAnswers(judge: ActiveSyncJudge, from: number, to: number, active: string): void {
  for (let t = from; t < to; t += 25) judge.role({ askedAt: t, answeredAt: t + 2, active });
}

function keyCounts(judge: ActiveSyncJudge, node: string, pid: number, keys: number): void {
  for (let t = 0; t < 10_000; t += 250) judge.keyCount(node, { at: t + 3, pid, keys });
}

const verdictOf = (verdict: SyncVerdict): string => verdict.verdict;

describe('a full sync into the active holding data', () => {
  test('is reported, with its epoch and the keys the node held', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, 3);
    keyCounts(judge, A, OLD_PID, 12_001);
    assert.deepEqual(judge.judge(A, { pid: OLD_PID, at: 5_100 }, undefined), {
      verdict: 'into-active',
      epoch: 3,
      keys: 12_001,
      keysSeenAt: 5_003,
    });
  });

  test('however fast it was: the log line is enough, no sample saw it', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, 3);
    keyCounts(judge, A, OLD_PID, 12_001);
    // Flushed and reloaded between two samples: every key count says 12,001.
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 5_101 }, undefined)), 'into-active');
  });

  test('right before a switch away from it: the /active answers around it still name it', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 5_000, A, 3);
    statuses(judge, 5_000, 10_000, B, 4);
    activeAnswers(judge, 4_750, 5_060, A);
    activeAnswers(judge, 5_060, 5_250, B);
    keyCounts(judge, A, OLD_PID, 12_001);
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 4_900 }, undefined)), 'into-active');
  });

  test('a process restarted from its dump.rdb and named active holds data (its log says)', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, 3);
    keyCounts(judge, A, OLD_PID, 12_001);
    const verdict = judge.judge(A, { pid: NEW_PID, at: 5_100 }, { at: 5_050, keys: 9_000 });
    assert.deepEqual(verdict, { verdict: 'into-active', epoch: 3, keys: 9_000, keysSeenAt: 5_050 });
  });

  test('what it held: the latest of the key count and its log (a sync finished since)', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, 3);
    judge.keyCount(A, { at: 5_000, pid: OLD_PID, keys: 0 });
    const verdict = judge.judge(A, { pid: OLD_PID, at: 5_200 }, { at: 5_100, keys: 12_001 });
    assert.equal(verdictOf(verdict), 'into-active');
  });
});

describe('what is not a full sync into the active holding data', () => {
  test("the standby's sync: rbuddy named the other node", () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, 3);
    keyCounts(judge, B, OLD_PID, 0);
    assert.deepEqual(judge.judge(B, { pid: OLD_PID, at: 5_100 }, undefined), {
      verdict: 'not-active',
      active: A,
    });
  });

  test('the first attach of the active at the very first start: it held nothing', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, null);
    keyCounts(judge, A, OLD_PID, 0);
    assert.deepEqual(judge.judge(A, { pid: OLD_PID, at: 5_100 }, { at: 0, keys: 0 }), {
      verdict: 'active-empty',
      epoch: null,
    });
  });

  test('a node killed and started again empty: its new process held nothing', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 10_000, A, 3);
    keyCounts(judge, A, OLD_PID, 12_001);
    judge.keyCount(A, { at: 5_050, pid: NEW_PID, keys: 0 });
    assert.equal(verdictOf(judge.judge(A, { pid: NEW_PID, at: 5_100 }, undefined)), 'active-empty');
    // No key count of the new process: its log says it started empty.
    const unseen = new ActiveSyncJudge();
    statuses(unseen, 0, 10_000, A, 3);
    keyCounts(unseen, A, OLD_PID, 12_001);
    const verdict = unseen.judge(A, { pid: NEW_PID, at: 5_100 }, { at: 5_000, keys: 0 });
    assert.equal(verdictOf(verdict), 'active-empty');
  });

  test('the standby synced just before the switch named it active', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 5_000, A, 3);
    statuses(judge, 5_000, 10_000, B, 4);
    activeAnswers(judge, 4_500, 5_060, A);
    activeAnswers(judge, 5_060, 5_500, B);
    keyCounts(judge, B, OLD_PID, 0);
    assert.deepEqual(judge.judge(B, { pid: OLD_PID, at: 4_900 }, undefined), {
      verdict: 'not-active',
      active: A,
    });
  });

  test('the outgoing active synced just after the switch named the other node', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 5_000, A, 3);
    statuses(judge, 5_000, 10_000, B, 4);
    activeAnswers(judge, 4_500, 5_060, A);
    activeAnswers(judge, 5_060, 5_500, B);
    keyCounts(judge, A, OLD_PID, 12_001);
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 5_150 }, undefined)), 'not-active');
  });

  test('between the two answers that saw the switch: not judged a violation', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 5_000, A, 3);
    statuses(judge, 5_000, 10_000, B, 4);
    keyCounts(judge, A, OLD_PID, 12_001);
    const verdict = judge.judge(A, { pid: OLD_PID, at: 4_997 }, undefined);
    assert.equal(verdictOf(verdict), 'roles-changing');
  });

  test('two switches between two answers: the /active answers cannot tell', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 5_000, A, 3);
    statuses(judge, 5_000, 10_000, A, 5);
    activeAnswers(judge, 4_500, 5_500, A);
    keyCounts(judge, A, OLD_PID, 12_001);
    assert.equal(
      verdictOf(judge.judge(A, { pid: OLD_PID, at: 4_900 }, undefined)),
      'roles-changing',
    );
  });
});

describe('what cannot be judged yet, or at all', () => {
  test('no answer of rbuddy after it yet: wait (rbuddy killed, say)', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 0, 5_000, A, 3);
    keyCounts(judge, A, OLD_PID, 12_001);
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 6_000 }, undefined)), 'wait');
    statuses(judge, 9_000, 10_000, A, 3);
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 6_000 }, undefined)), 'into-active');
  });

  test('no answer before it, or nothing known of what the process held', () => {
    const judge = new ActiveSyncJudge();
    statuses(judge, 5_000, 10_000, A, 3);
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 4_000 }, undefined)), 'unknown');
    assert.equal(verdictOf(judge.judge(A, { pid: OLD_PID, at: 6_000 }, undefined)), 'unknown');
  });
});
