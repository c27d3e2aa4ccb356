// The chaos checker's freshness checks (chaos/freshness.ts, chaos/offset-lag.ts) on fake inputs
// and a clock the test moves: an active that stops applying its stream while rbuddy says healthy
// (reviewer R11c, C1: CLIENT PAUSE 25000 WRITE passed every check) is reported by its reads and
// by its lag behind the master's offset; a lag something excused (a fault of the active, the
// master, rbuddy or a link, rbuddy not healthy, another active) is not, nor a sequence that
// "went back" across a tenure.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Checker } from '../../chaos/checker.js';
import {
  FRESH_BACK,
  FRESH_BOUND,
  FRESH_BOUND_MS,
  FreshReporter,
  type FreshPlan,
  judgeFresh,
  keyOf,
  planFresh,
  SeqTenure,
  seqOf,
  WriterAcks,
} from '../../chaos/freshness.js';
import { History } from '../../chaos/history.js';
import { KeyReference } from '../../chaos/readers.js';
import {
  LAG_BOUND_MS,
  LAG_INVARIANT,
  LagJudge,
  OffsetLag,
  replOffsets,
} from '../../chaos/offset-lag.js';

const dir = mkdtempSync(join(tmpdir(), 'rbuddy-chaos-freshness-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

interface CheckerRig {
  checker: Checker;
  advance: (ms: number) => void;
  now: () => number;
}

/** A checker on a clock the test moves. */
function rig(): CheckerRig {
  let clock = 1_000_000;
  runs += 1;
  const history = new History(join(dir, `history-${runs}.jsonl`), () => clock);
  return {
    checker: new Checker(history),
    advance: (ms) => {
      clock += ms;
    },
    now: () => history.now(),
  };
}

const A = '127.0.0.1:7001';
const B = '127.0.0.1:7002';
const value = (seq: number): string => String(seq).padEnd(100, 'v');
const violations = (checker: Checker, invariant: string): number =>
  checker.violations.filter((v) => v.invariant === invariant).length;

/** The reader's plan, with the checker's excuses. */
function plan5(checker: Checker, tenure: SeqTenure, acks: WriterAcks, now: number): FreshPlan {
  return planFresh(tenure, acks, now, checker.staleExcusedSince(A), checker.lastExcused('master'));
}

test('seqOf reads the writer values only', () => {
  assert.equal(seqOf(value(1234)), 1234);
  assert.equal(seqOf(null), undefined);
  assert.equal(seqOf('fixed-3'), undefined);
  assert.equal(keyOf(12_345), 'steady:2345');
});

test('WriterAcks: the highest sequence acknowledged by a moment, if after another', () => {
  const acks = new WriterAcks();
  acks.record(1000, 10);
  acks.record(2000, 20);
  acks.record(2500, 15); // never lower
  acks.record(3000, 30);
  assert.deepEqual(acks.within(0, 2900), { t: 2000, seq: 20 });
  assert.deepEqual(acks.within(0, 3000), { t: 3000, seq: 30 });
  assert.equal(acks.within(2100, 2900), undefined, 'acknowledged before the window: not judged');
  assert.equal(acks.within(0, 999), undefined);
  assert.equal(acks.latest(), 30);
});

test('SeqTenure: a new tenure on another node, a restart, a new epoch', () => {
  const tenure = new SeqTenure();
  tenure.named(A, 100, undefined, 1);
  assert.equal(tenure.saw('steady:1', 50), undefined);
  assert.equal(tenure.saw('steady:1', 40), 50, 'went back');
  assert.deepEqual(tenure.reread(), [{ key: 'steady:1', min: 50 }]);
  tenure.named(A, 200, undefined, 1);
  assert.equal(tenure.from, 100, 'the same tenure');
  tenure.named(A, 300, 250, 1);
  assert.equal(tenure.from, 250, 'restarted at 250: a new tenure from then');
  assert.deepEqual(tenure.reread(), []);
  tenure.saw('steady:1', 10);
  tenure.named(A, 400, 250, 2);
  assert.equal(tenure.from, 400, 'a new epoch');
  tenure.saw('steady:1', 10);
  tenure.named(B, 500, undefined, 2);
  assert.equal(tenure.from, 500, 'another node');
  assert.equal(tenure.saw('steady:1', 5), undefined, 'judged against nothing of the last node');
});

test('a stale active: the acknowledged write missing 5 s later is reported, once', () => {
  const { checker, advance, now } = rig();
  const acks = new WriterAcks();
  const tenure = new SeqTenure();
  const reporter = new FreshReporter(checker);
  const read = (applied: number): void => {
    tenure.named(A, now(), undefined, 1);
    const plan = plan5(checker, tenure, acks, now());
    const values = plan.keys.map((key) => {
      // The active applied the writes up to `applied`: each key holds its last write by then.
      const k = Number(key.split(':')[1]);
      const last = applied - ((((applied - k) % 10_000) + 10_000) % 10_000);
      return last > 0 ? value(last) : null;
    });
    const verdict = judgeFresh(tenure, plan, values);
    reporter.report(
      A,
      plan,
      verdict,
      false,
      checker.staleExcusedSince(A),
      checker.lastExcused('master'),
    );
  };
  // 300 writes a second, the active keeping up for 10 s.
  let seq = 0;
  for (let i = 0; i < 100; i += 1) {
    advance(100);
    seq += 30;
    acks.record(now(), seq);
    read(seq);
  }
  assert.equal(checker.violations.length, 0);
  assert.ok((checker.checks.get(FRESH_BOUND) ?? 0) > 40, 'the bound was judged');
  assert.ok((checker.checks.get(FRESH_BACK) ?? 0) > 90, 'the tenure was judged');
  // Then it stops applying at `frozen` while the master goes on.
  const frozen = seq;
  for (let i = 0; i < 100; i += 1) {
    advance(100);
    seq += 30;
    acks.record(now(), seq);
    read(frozen);
  }
  assert.equal(violations(checker, FRESH_BOUND), 1, 'one violation for the incident');
  assert.equal(violations(checker, FRESH_BACK), 0);
});

test('a stale active is not judged while its lag is excused, and is judged 5 s after', () => {
  const { checker, advance, now } = rig();
  const acks = new WriterAcks();
  const tenure = new SeqTenure();
  tenure.named(A, now(), undefined, 1);
  const ack = (n: number): void => {
    for (let i = 0; i < n; i += 1) {
      advance(100);
      acks.record(now(), (acks.latest() ?? 0) + 30);
    }
  };
  ack(100);
  checker.impair('master-link');
  advance(3000);
  checker.healed('master-link');
  advance(FRESH_BOUND_MS);
  // The link excused until 2 s after it healed: the active has 5 s from then to catch up.
  assert.equal(plan5(checker, tenure, acks, now()).bound, undefined);
  ack(20);
  const plan = plan5(checker, tenure, acks, now());
  assert.ok(plan.bound !== undefined);
  assert.ok(plan.bound.t <= now() - FRESH_BOUND_MS, 'acknowledged 5 s before, during the fault');
  assert.ok(plan.bound.by >= checker.staleExcusedSince(A));
  // rbuddy not healthy meanwhile: not judged either.
  checker.lastNotHealthy = now();
  assert.equal(plan5(checker, tenure, acks, now()).bound, undefined);
  // The master broken: what it acknowledged before it was back (and settled) is never required.
  ack(100);
  checker.impair('master');
  advance(1000);
  checker.healed('master');
  const back = now() + 2000;
  ack(20);
  assert.equal(plan5(checker, tenure, acks, now()).bound, undefined);
  ack(60);
  const after = plan5(checker, tenure, acks, now());
  assert.ok(after.bound !== undefined && after.bound.t >= back);
});

test('a sequence that goes back within a tenure is reported; across tenures it is not', () => {
  const { checker } = rig();
  const reporter = new FreshReporter(checker);
  const tenure = new SeqTenure();
  const acks = new WriterAcks();
  const once = (node: string, t: number, seq: number): void => {
    tenure.named(node, t, undefined, 1);
    const plan = planFresh(tenure, acks, t, 0, 0);
    plan.keys.push('steady:7');
    const values = plan.keys.map(() => value(seq));
    reporter.report(node, plan, judgeFresh(tenure, plan, values), false, 0, 0);
  };
  once(A, 1, 10_007);
  once(A, 2, 10_007);
  once(B, 3, 7); // another node: a new tenure
  assert.equal(checker.violations.length, 0);
  once(B, 4, 7);
  once(A, 5, 7); // A again: a new tenure, judged from nothing
  once(A, 6, 5);
  assert.equal(violations(checker, FRESH_BACK), 1);
});

test('replOffsets reads what a replica applied, not what it read', () => {
  const info =
    'role:slave\r\nmaster_link_status:up\r\nslave_read_repl_offset:900\r\nslave_repl_offset:700\r\n' +
    'master_replid:abc123\r\nmaster_repl_offset:700\r\n';
  assert.deepEqual(replOffsets(info), { replid: 'abc123', offset: 700 });
  assert.deepEqual(replOffsets('role:master\r\nmaster_replid:abc\r\nmaster_repl_offset:5\r\n'), {
    replid: 'abc',
    offset: 5,
  });
  assert.equal(replOffsets(''), undefined);
});

test('OffsetLag: since when the master has been past the active, in time', () => {
  const lag = new OffsetLag();
  lag.master(0, { replid: 'r', offset: 100 });
  lag.master(250, { replid: 'r', offset: 200 });
  lag.master(500, { replid: 'r', offset: 200 });
  lag.master(750, { replid: 'r', offset: 300 });
  assert.equal(lag.behindSince({ replid: 'r', offset: 300 }), null);
  assert.equal(lag.behindSince({ replid: 'r', offset: 250 }), 750);
  assert.equal(lag.behindSince({ replid: 'r', offset: 150 }), 250);
  assert.equal(lag.behindSince({ replid: 'r', offset: 50 }), 0);
  assert.equal(lag.behindSince({ replid: 'other', offset: 50 }), undefined);
  // The master restarted: a new record.
  lag.master(1000, { replid: 's', offset: 10 });
  assert.equal(lag.behindSince({ replid: 'r', offset: 50 }), undefined);
  assert.equal(lag.behindSince({ replid: 's', offset: 5 }), 1000);
});

/** The master writing 3,000 bytes a tick (250 ms); `tick(active)` samples the active's offset. */
function lagRig(): CheckerRig & { tick: (active: number) => void; offset: () => number } {
  const r = rig();
  const lag = new OffsetLag();
  const judge = new LagJudge(r.checker);
  let offset = 1000;
  return {
    ...r,
    offset: () => offset,
    tick: (active) => {
      r.advance(250);
      offset += 3000;
      lag.master(r.now(), { replid: 'r', offset });
      judge.sample(
        r.now(),
        A,
        lag,
        { replid: 'r', offset: active },
        r.checker.staleExcusedSince(A),
      );
    },
  };
}

test('LagJudge: an active frozen while healthy is reported after 5 s, once per incident', () => {
  const { checker, tick, offset } = lagRig();
  for (let i = 0; i < 20; i += 1) tick(offset());
  const frozen = offset();
  for (let i = 0; i < 20; i += 1) tick(frozen); // 5 s
  assert.equal(violations(checker, LAG_INVARIANT), 0);
  for (let i = 0; i < 40; i += 1) tick(frozen);
  assert.equal(violations(checker, LAG_INVARIANT), 1);
  assert.ok(checker.maxLagMs >= 14_000);
  // Caught up, then frozen again: a second incident.
  tick(offset() + 3000);
  for (let i = 0; i < 30; i += 1) tick(frozen + 1);
  assert.equal(violations(checker, LAG_INVARIANT), 2);
});

test('LagJudge: a lag while something excuses it is not judged, and counts from its end', () => {
  const { checker, tick, offset, now } = lagRig();
  const frozen = offset();
  checker.impair('replica-link');
  for (let i = 0; i < 40; i += 1) tick(frozen); // 10 s under a link fault
  checker.healed('replica-link');
  // 2 s of settling, then 5 s of room: 7 s.
  for (let i = 0; i < 27; i += 1) tick(frozen);
  assert.equal(violations(checker, LAG_INVARIANT), 0);
  assert.ok(checker.maxLagMs > 15_000);
  assert.ok(checker.maxJudgedLagMs <= LAG_BOUND_MS);
  for (let i = 0; i < 2; i += 1) tick(frozen);
  assert.equal(violations(checker, LAG_INVARIANT), 1);
  // A new active named: its lag counts from then.
  checker.activeChangedAt = now();
  for (let i = 0; i < 20; i += 1) tick(frozen);
  assert.equal(violations(checker, LAG_INVARIANT), 1);
});

test('WriterAcks.writesWithin: the writes of the last moments, the room a lagging copy has', () => {
  const acks = new WriterAcks();
  assert.equal(acks.writesWithin(5_000, 10_000), 0, 'nothing acknowledged yet');
  for (let t = 0; t <= 20_000; t += 1_000) acks.record(t, t / 10); // 100 writes a second
  assert.equal(acks.writesWithin(5_000, 20_000), 500);
  assert.equal(acks.writesWithin(5_000, 3_000), 300, 'from the first acknowledgement');
});

test('KeyReference.required: a copy may lag the writes of the last seconds, or 10 %', () => {
  // 30 minutes of seed 20261214: the master restarted with 5,310 keys, the writer refilling one
  // key per write; the new active 2 s behind held 4,728, under 90 % of the master.
  const keys = new KeyReference();
  keys.named('old', 0, 12_001);
  keys.held(12_001);
  keys.named('a', 1_000, 5_310);
  assert.equal(keys.required(), Math.floor(0.9 * 5_310));
  assert.equal(keys.required(1_500), 5_310 - 1_500, 'five seconds of 300 writes a second');
  assert.equal(keys.required(10), Math.floor(0.9 * 5_310), 'whichever room is larger');
  keys.held(5_200);
  assert.equal(keys.required(1_500), 5_200, 'never fewer than it held this tenure');
});

test('WriterAcks.lagRoom: five seconds of writes, or the window kept while the lag is excused', () => {
  const acks = new WriterAcks();
  for (let t = 0; t <= 60_000; t += 1_000) acks.record(t, t / 10);
  assert.equal(acks.lagRoom(60_000, -Infinity, 5_000), 500, 'nothing excused');
  assert.equal(acks.lagRoom(60_000, 50_000, 5_000), 500, 'excused long enough ago');
  assert.equal(acks.lagRoom(60_000, 58_000, 5_000), 6_000, 'a blackhole that just ended');
});
