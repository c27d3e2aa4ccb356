// The guarantee that no instance names a flushed node (src/ha/view-freshness.ts, src/standby/
// drain.ts), on injected clocks: a follower's view is fresh for a lease after the read behind it
// was sent, and the leader retires the old active no sooner than a lease and a margin after it knew
// the switch saved; so a view read before the switch is stale before the flush.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drainWait, SwitchAge } from '../../src/standby/drain.js';
import type { FailoverRecord } from '../../src/standby/persisted-state.js';
import { retireAfterSwitchMs, ViewFreshness } from '../../src/ha/view-freshness.js';

const LEASE = 3000;

describe('ViewFreshness', () => {
  test('never read: stale', () => {
    const view = new ViewFreshness(
      () => LEASE,
      () => 0,
    );
    assert.equal(view.fresh(), false);
    assert.match(view.staleness() ?? '', /never read from etcd.*ask another instance/);
  });

  test('fresh for a lease after the read was SENT, however late its answer came', () => {
    const clock = { ms: 10_000 };
    const view = new ViewFreshness(
      () => LEASE,
      () => clock.ms,
    );
    const sentAt = view.sending();
    clock.ms += 1_500; // the answer took 1.5 s
    view.read(sentAt);
    clock.ms = sentAt + LEASE - 1;
    assert.equal(view.fresh(), true);
    assert.equal(view.staleness(), undefined);
    clock.ms = sentAt + LEASE;
    assert.equal(view.fresh(), false);
    assert.match(view.staleness() ?? '', /older than the lease \(last read from etcd 3\.0 s ago\)/);
  });

  test('an older read answering after a newer one does not age the view', () => {
    const clock = { ms: 0 };
    const view = new ViewFreshness(
      () => LEASE,
      () => clock.ms,
    );
    const first = view.sending();
    clock.ms = 1000;
    const second = view.sending();
    view.read(second);
    view.read(first);
    clock.ms = first + LEASE;
    assert.equal(view.fresh(), true, 'counted from the newer read');
  });

  test('computed when asked: a process woken from a pause is stale at once', () => {
    const clock = { ms: 0 };
    const view = new ViewFreshness(
      () => LEASE,
      () => clock.ms,
    );
    view.read(view.sending());
    clock.ms += 60_000; // SIGSTOP, then SIGCONT: no timer has run
    assert.equal(view.fresh(), false);
  });
});

describe('the retire waits for every view read before the switch to expire', () => {
  const record = (verifiedAt: string): FailoverRecord => ({
    id: 'f-1',
    kind: 'unplanned',
    reason: 'test',
    startedAt: verifiedAt,
    outgoing: 'a',
    incoming: 'b',
    step: 'switched',
    savedConfig: null,
    verifiedAt,
    timeline: [{ step: 'switched', at: verifiedAt }],
  });
  const now = Date.parse('2026-12-02T12:00:00.000Z');
  const config = { drainMs: 1000, retireAfterSwitchMs: retireAfterSwitchMs(LEASE) };
  const switchedLongAgo = record(new Date(now - 60_000).toISOString());

  test('more than a lease', () => {
    assert.ok(retireAfterSwitchMs(LEASE) > LEASE);
    assert.equal(retireAfterSwitchMs(5000), 6000);
  });

  test('--drain-ms over, the switch known saved for less than retireAfterSwitchMs: wait', () => {
    const wait = drainWait(
      switchedLongAgo,
      { now, startedAt: 0, switchAgeMs: config.retireAfterSwitchMs - 1 },
      config,
    );
    assert.match(wait ?? '', /other instances may name the old active until 3600 ms/);
    const done = { now, startedAt: 0, switchAgeMs: config.retireAfterSwitchMs };
    assert.equal(drainWait(switchedLongAgo, done, config), undefined);
  });

  test('alone (no retireAfterSwitchMs): --drain-ms only, as before', () => {
    const obs = { now, startedAt: 0, switchAgeMs: 0 };
    assert.equal(drainWait(switchedLongAgo, obs, { drainMs: 1000 }), undefined);
    const recent = record(new Date(now - 999).toISOString());
    assert.match(drainWait(recent, obs, { drainMs: 1000 }) ?? '', /draining clients/);
  });

  test("SwitchAge: from the first round that saw the switch, on its own clock; a new epoch's anew", () => {
    const clock = { ms: 500 };
    const age = new SwitchAge(() => clock.ms);
    assert.equal(age.of(7, false), undefined);
    assert.equal(age.of(8, true), 0);
    clock.ms += 2000;
    assert.equal(age.of(8, true), 2000);
    assert.equal(age.of(9, true), 0, 'another switch');
    clock.ms += 100;
    assert.equal(age.of(9, false), undefined, 'retired');
    assert.equal(age.of(9, true), 0, 'forgotten once retired');
  });

  test('any view read before the switch was saved is stale when the retire may run', () => {
    // Two processes, two clocks with different origins: only durations are compared.
    for (let trial = 0; trial < 1000; trial += 1) {
      const follower = { ms: Math.random() * 1e6 };
      const leader = { ms: Math.random() * 1e6 };
      const view = new ViewFreshness(
        () => LEASE,
        () => follower.ms,
      );
      const age = new SwitchAge(() => leader.ms);
      // The follower's last read is sent some time before the switch is saved, then it is cut off.
      view.read(view.sending());
      const before = Math.random() * 10_000;
      follower.ms += before;
      leader.ms += before;
      // The leader's first round after the save; then rounds until it may retire.
      age.of(8, true);
      let elapsed = 0;
      const step = 1 + Math.random() * 300;
      while (
        drainWait(switchedLongAgo, { now, startedAt: 0, switchAgeMs: age.of(8, true) }, config) !==
        undefined
      ) {
        leader.ms += step;
        follower.ms += step;
        elapsed += step;
        assert.ok(elapsed < 60_000, 'the retire comes');
      }
      assert.equal(
        view.fresh(),
        false,
        `trial ${trial}: the follower could still name the old active`,
      );
    }
  });
});
