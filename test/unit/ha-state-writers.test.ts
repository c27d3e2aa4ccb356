// Who wrote the group's state: the stamp every save in etcd carries (src/ha/written-by.ts), and the
// check the HA functional tests make of etcd's history with it (test/helpers/etcd-state-history.ts)
// — shown here to fail on fabricated histories where a second instance writes outside its
// leadership, so that its passing in the functional tests means something.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stampedState, unstamped, writtenByOf, type WrittenBy } from '../../src/ha/written-by.js';
import { invalidReason, type PersistedState } from '../../src/standby/persisted-state.js';
import { writerViolations, type StateWrite } from '../helpers/etcd-state-history.js';

const A: WrittenBy = { id: 'a', announce: '127.0.0.1:7001', fence: 7 };
const B: WrittenBy = { id: 'b', announce: '127.0.0.1:7002', fence: 20 };

const STATE: PersistedState = {
  version: 1,
  epoch: 3,
  active: '127.0.0.1:6380',
  standby: '127.0.0.1:6381',
  activeHoldsData: true,
  failover: null,
  lastFailover: null,
};

/** A write at `revision` stamped by `by`, made while `leader` held the leader key. */
function write(revision: number, by: WrittenBy | null, leader: WrittenBy | null): StateWrite {
  return { revision, writtenBy: by, leader, epoch: 3, active: null, step: null, timeline: [] };
}

/** A leads from revision 7 until its key goes at 19; B is elected at 20. */
function leaderAt(revision: number): WrittenBy | null {
  if (revision >= 7 && revision < 19) return A;
  if (revision >= 20) return B;
  return null;
}

describe('the writer stamp of the state in etcd', () => {
  it('round-trips: stamped on save, removed on load, the state still valid', () => {
    const text = stampedState(STATE, A);
    const value: unknown = JSON.parse(text);
    assert.deepEqual(writtenByOf(value), A);
    assert.deepEqual(unstamped(value), STATE);
    assert.equal(invalidReason(unstamped(value)), undefined);
  });

  it('reads a state written before the stamp: no writer, the state as it was', () => {
    const value: unknown = JSON.parse(JSON.stringify(STATE));
    assert.equal(writtenByOf(value), null);
    assert.deepEqual(unstamped(value), STATE);
  });

  it('an unreadable stamp names no writer and is removed all the same', () => {
    for (const writtenBy of [null, 'a', { id: 'a', announce: 'x' }, { ...A, fence: 0 }]) {
      const value = { ...STATE, writtenBy };
      assert.equal(writtenByOf(value), null, JSON.stringify(writtenBy));
      assert.deepEqual(unstamped(value), STATE);
    }
  });
});

describe('every state write made under the leader of its revision', () => {
  it('passes a history where each leader writes only during its own term', () => {
    const writes = [8, 12, 18, 21, 30].map((r) => write(r, leaderAt(r), leaderAt(r)));
    assert.deepEqual(writerViolations(writes), []);
  });

  it("fails a deposed leader's late write, made while the other one led", () => {
    const writes = [write(12, A, leaderAt(12)), write(22, B, leaderAt(22)), write(25, A, B)];
    const violations = writerViolations(writes);
    assert.equal(violations.length, 1, violations.join('\n'));
    assert.match(
      violations[0] ?? '',
      /revision 25: written by a .*fence 7.* while b .*fence 20.* led/,
    );
  });

  it('fails a write made while nobody led (between two terms)', () => {
    const violations = writerViolations([write(19, A, leaderAt(19))]);
    assert.equal(violations.length, 1);
    assert.match(violations[0] ?? '', /revision 19: .* while nobody held the leader key/);
  });

  it('fails a write under an old fence of the same instance (re-elected since)', () => {
    const again: WrittenBy = { ...A, fence: 40 };
    const violations = writerViolations([write(41, A, again)]);
    assert.equal(violations.length, 1);
    assert.match(violations[0] ?? '', /fence 7.* while a .*fence 40/);
  });

  it('fails a write without a stamp: nobody can say who made it', () => {
    const violations = writerViolations([write(8, null, A)]);
    assert.deepEqual(violations, ["revision 8: the state was written without its writer's stamp"]);
  });
});
