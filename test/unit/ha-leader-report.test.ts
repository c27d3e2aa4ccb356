// The leader's live report and its beat (src/ha/leader-report.ts): the leader writes it again
// every beat, and a follower calls a report live only once it has seen its beat move forward
// under the same fence. A report etcd restored from a backup (beside the leader key of its time,
// on a lease etcd brings back while nobody writes under it) never is: that is what let a follower
// go back to an older epoch and name a flushed node (#13, reviewer round 5, F2).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LeaderReports, parseReport, reportText } from '../../src/ha/leader-report.js';
import type { LeaderReport } from '../../src/ha/coordination.js';

const report = (epoch: number): LeaderReport => ({
  state: 'healthy',
  reason: null,
  masterUp: true,
  epoch,
});

describe('LeaderReports: the leader writes', () => {
  test('when the report changes, and again every beat with the next beat number', () => {
    const leader = new LeaderReports(1_000);
    assert.equal(leader.due(0), undefined, 'nothing published');
    leader.publish(report(1), 42);
    const first = leader.due(0);
    assert.ok(first !== undefined);
    leader.wrote(first, 0);
    assert.equal(leader.due(999), undefined, 'unchanged, within the beat');
    leader.publish(report(1), 42);
    assert.equal(leader.due(500), undefined, 'published again unchanged: nothing to write');
    const beat = leader.due(1_000);
    assert.ok(beat !== undefined, 'a beat old: written again');
    assert.equal(beat.beat, first.beat + 1);
    assert.equal((JSON.parse(beat.text) as { beat: number }).beat, beat.beat);
    leader.wrote(beat, 1_000);
    leader.publish(report(2), 42);
    const changed = leader.due(1_001);
    assert.ok(changed !== undefined, 'changed: written at once');
    assert.equal(parseReport(changed.text, 42)?.epoch, 2);
  });

  test('a write that failed (never passed to wrote) is due again', () => {
    const leader = new LeaderReports(1_000);
    leader.publish(report(1), 7);
    assert.ok(leader.due(0) !== undefined);
    assert.ok(leader.due(1) !== undefined);
  });
});

describe('LeaderReports: a follower calls a report live only once its beat moved forward', () => {
  test('the first read is not live; the next beat is; the same text again stays live', () => {
    const follower = new LeaderReports(1_000);
    follower.readFrom(reportText(report(3), 9, 10), 9);
    assert.deepEqual(follower.read, report(3));
    assert.equal(follower.renewed(), null);
    follower.readFrom(reportText(report(3), 9, 10), 9);
    assert.equal(follower.renewed(), null, 'the same beat: nobody seen writing');
    follower.readFrom(reportText(report(3), 9, 11), 9);
    assert.deepEqual(follower.renewed(), report(3));
    follower.readFrom(reportText(report(3), 9, 11), 9);
    assert.deepEqual(follower.renewed(), report(3), 'between two beats it stays live');
  });

  test('a beat that goes back (etcd restored) is not live until it moves forward again', () => {
    const follower = new LeaderReports(1_000);
    follower.readFrom(reportText(report(1), 9, 90), 9);
    follower.readFrom(reportText(report(1), 9, 91), 9);
    assert.deepEqual(follower.renewed(), report(1));
    // The backup's report: same fence (the leader key restored), an older beat, an older epoch.
    follower.readFrom(reportText(report(0), 9, 57), 9);
    assert.equal(follower.renewed(), null);
    follower.readFrom(reportText(report(0), 9, 57), 9);
    assert.equal(follower.renewed(), null, 'it stands still: its writer no longer acts');
    // The leader, alive after all, writes again.
    follower.readFrom(reportText(report(1), 9, 92), 9);
    assert.deepEqual(follower.renewed(), report(1));
  });

  test('a new fence starts over; a report without a beat (an older version) is never live', () => {
    const follower = new LeaderReports(1_000);
    follower.readFrom(reportText(report(1), 9, 5), 9);
    follower.readFrom(reportText(report(1), 9, 6), 9);
    follower.readFrom(reportText(report(0), 12, 7), 12);
    assert.equal(follower.renewed(), null, 'another leader: not seen writing yet');
    const old = JSON.stringify({ ...report(0), fence: 13 });
    follower.readFrom(old, 13);
    follower.readFrom(old, 13);
    assert.deepEqual(follower.read, report(0));
    assert.equal(follower.renewed(), null);
  });

  test('a report under another fence, or garbage, is no report', () => {
    const follower = new LeaderReports(1_000);
    follower.readFrom(reportText(report(1), 8, 1), 9);
    assert.equal(follower.read, null);
    follower.readFrom('{"fence":9,"beat":"x"}', 9);
    assert.equal(follower.read, null);
    assert.equal(parseReport(JSON.stringify({ ...report(1), fence: 9, beat: 1.5 }), 9), null);
  });
});
