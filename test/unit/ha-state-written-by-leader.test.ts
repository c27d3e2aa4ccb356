// Whether the group's state in etcd was written by a leader of the group (src/ha/state-writer.ts):
// its stamp against etcd's record of who led when it was written (the state's mod revision, the
// leader key's create revision), from what was read, the fences this instance saw, or etcd's
// history of the leader key.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  judgeWriter,
  SeenLeaders,
  type SeenLeader,
  type WriterEvidence,
} from '../../src/ha/state-writer.js';

const A = { fence: 100, id: 'a' };
const B = { fence: 200, id: 'b' };
const none = new Map<number, SeenLeader>();

function judge(evidence: Partial<WriterEvidence> & Pick<WriterEvidence, 'written'>) {
  return judgeWriter({ stamp: null, leader: null, known: none, ...evidence });
}

describe("who wrote the group's state", () => {
  test('no stamp: not a leader, whoever leads', () => {
    for (const leader of [A, null]) {
      const verdict = judge({ written: 150, leader });
      assert.equal(verdict.kind, 'not-leader');
      assert.match(verdict.kind === 'not-leader' ? verdict.why : '', /no writtenBy/);
    }
  });

  test("written under the current leader, stamped with its fence: the leader's", () => {
    const stamp = { id: 'a', announce: 'x:1', fence: 100 };
    assert.deepEqual(judge({ written: 150, leader: A, stamp }), { kind: 'leader' });
  });

  test('written under the current leader, stamped otherwise: not the leader', () => {
    const stale = { id: 'old', announce: 'x:1', fence: 50 };
    const verdict = judge({
      written: 150,
      leader: A,
      stamp: stale,
      known: new Map([[50, { id: 'old', aliveAt: 160 }]]),
    });
    assert.equal(verdict.kind, 'not-leader');
    assert.match(
      verdict.kind === 'not-leader' ? verdict.why : '',
      /written at revision 150, while instance a led under fence 100/,
    );
    // Its fence with another id.
    const borrowed = { id: 'z', announce: 'x:1', fence: 100 };
    assert.equal(judge({ written: 150, leader: A, stamp: borrowed }).kind, 'not-leader');
  });

  test('a stamp with a fence from after its own write: not a leader', () => {
    const future = { id: 'b', announce: 'x:1', fence: 200 };
    assert.equal(judge({ written: 150, leader: B, stamp: future }).kind, 'not-leader');
  });

  test('the last state of a leader that died (the takeover window): its key seen alive after the write, it stands', () => {
    const stamp = { id: 'a', announce: 'x:1', fence: 100 };
    const known = new Map([[100, { id: 'a', aliveAt: 150 }]]);
    // Nobody leads yet, or the new leader elected after the write.
    assert.deepEqual(judge({ written: 150, leader: null, stamp, known }), { kind: 'leader' });
    assert.deepEqual(judge({ written: 150, leader: B, stamp, known }), { kind: 'leader' });
  });

  test("a dead leader's stamp copied into a value put after its key was last seen: history decides", () => {
    // The attack: revoke the leader's lease (its key goes), then put a state carrying its stamp.
    const stamp = { id: 'a', announce: 'x:1', fence: 100 };
    const known = new Map([[100, { id: 'a', aliveAt: 140 }]]);
    assert.deepEqual(judge({ written: 150, leader: null, stamp, known }), { kind: 'ask-history' });
    assert.deepEqual(judge({ written: 150, leader: B, stamp, known }), { kind: 'ask-history' });
    const nobody = judge({ written: 150, leader: null, stamp, known, then: null });
    assert.match(nobody.kind === 'not-leader' ? nobody.why : '', /nobody led when it was written/);
    // Seen alive under another holder's id: no proof either.
    const other = new Map([[100, { id: 'z', aliveAt: 400 }]]);
    assert.deepEqual(judge({ written: 150, leader: B, stamp, known: other }), {
      kind: 'ask-history',
    });
  });

  test('a fence this instance never saw: etcd history of the leader key decides', () => {
    const stamp = { id: 'a', announce: 'x:1', fence: 100 };
    assert.deepEqual(judge({ written: 150, leader: B, stamp }), { kind: 'ask-history' });
    assert.deepEqual(judge({ written: 150, leader: B, stamp, then: A }), { kind: 'leader' });
    const other = judge({ written: 150, leader: B, stamp, then: { fence: 120, id: 'c' } });
    assert.match(
      other.kind === 'not-leader' ? other.why : '',
      /while instance c led under fence 120/,
    );
    const nobody = judge({ written: 150, leader: null, stamp, then: null });
    assert.match(nobody.kind === 'not-leader' ? nobody.why : '', /nobody led when it was written/);
    // History compacted: the stamp is taken as it stands.
    assert.deepEqual(judge({ written: 150, leader: B, stamp, then: 'compacted' }), {
      kind: 'leader',
    });
  });

  test('the leaders seen are kept, the oldest dropped past a bound', () => {
    const seen = new SeenLeaders();
    for (let fence = 1; fence <= 100; fence += 1) seen.seen({ fence, id: `i${fence}` }, fence + 5);
    assert.deepEqual(seen.known.get(100), { id: 'i100', aliveAt: 105 });
    assert.equal(seen.known.get(1), undefined);
    assert.ok(seen.known.size <= 64);
    // The newest revision it was seen alive at is kept; an older read does not set it back.
    seen.seen({ fence: 100, id: 'i100' }, 300);
    seen.seen({ fence: 100, id: 'i100' }, 200);
    assert.deepEqual(seen.known.get(100), { id: 'i100', aliveAt: 300 });
  });
});
