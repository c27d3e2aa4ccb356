// The group's past leaders (src/ha/past-leaders.ts) and what a takeover makes of them
// (src/ha/takeover.ts): the bounded list as stored in etcd, read back with a check, and a replica
// that follows a past leader's address repointed only when nothing answers there (its link down)
// or an instance of the group does; a foreign master there keeps its replica.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AddressVerdict } from '../../src/ha/address-check.js';
import { groupKeys } from '../../src/ha/keys.js';
import { PAST_LEADERS_KEPT, parsePastLeaders, withLeader } from '../../src/ha/past-leaders.js';
import { groupAddresses, repointReplicas } from '../../src/ha/takeover.js';
import {
  FakeNodeOps,
  FAKE_ANNOUNCE,
  heldStandbyModel,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { A, B } from '../helpers/engine-harness.js';

const addresses = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `10.1.0.${i + 1}:6380`);

describe('past leaders: the bounded list', () => {
  test('a new leader is appended; the oldest goes beyond the bound', () => {
    assert.deepEqual(withLeader([], '10.1.0.1:6380'), ['10.1.0.1:6380']);
    const full = addresses(PAST_LEADERS_KEPT);
    const next = withLeader(full, '10.2.0.1:6380');
    assert.equal(next.length, PAST_LEADERS_KEPT);
    assert.equal(next[0], '10.1.0.2:6380', 'the oldest dropped');
    assert.equal(next.at(-1), '10.2.0.1:6380', 'the newest last');
    assert.deepEqual(full, addresses(PAST_LEADERS_KEPT), 'the list given is not changed');
  });

  test('a leader elected again moves to the end, once, however its address is spelt', () => {
    const list = ['10.1.0.1:6380', '[::1]:6380', 'Rbuddy-A:6380'];
    assert.deepEqual(withLeader(list, '10.1.0.1:6380'), [
      '[::1]:6380',
      'Rbuddy-A:6380',
      '10.1.0.1:6380',
    ]);
    assert.deepEqual(withLeader(list, 'rbuddy-a:6380'), [
      '10.1.0.1:6380',
      '[::1]:6380',
      'rbuddy-a:6380',
    ]);
    assert.deepEqual(withLeader(list, '[::1]:6380').length, 3);
    // Another port is another instance.
    assert.deepEqual(withLeader(list, '10.1.0.1:6381').length, 4);
  });

  test('read back: no key is none; garbage is dropped and said', () => {
    assert.deepEqual(parsePastLeaders(null), { leaders: [], problem: undefined });
    const stored = JSON.stringify(addresses(3));
    assert.deepEqual(parsePastLeaders(stored), { leaders: addresses(3), problem: undefined });
    assert.match(parsePastLeaders('{not json').problem ?? '', /not valid JSON/);
    assert.deepEqual(parsePastLeaders('{"a":1}').leaders, []);
    assert.match(parsePastLeaders('"10.1.0.1:6380"').problem ?? '', /not a JSON array/);
    const mixed = parsePastLeaders(
      JSON.stringify(['10.1.0.1:6380', 7, 'no-port', '', 'x'.repeat(400) + ':1', '10.1.0.2:6380']),
    );
    assert.deepEqual(mixed.leaders, ['10.1.0.1:6380', '10.1.0.2:6380']);
    assert.match(mixed.problem ?? '', /^4 entries are not host:port addresses$/);
  });

  test('read back: duplicates once (the newest place), at most the newest PAST_LEADERS_KEPT', () => {
    const long = [...addresses(PAST_LEADERS_KEPT + 5), '10.1.0.20:6380'];
    const { leaders, problem } = parsePastLeaders(JSON.stringify(long));
    assert.equal(problem, undefined);
    assert.equal(leaders.length, PAST_LEADERS_KEPT);
    assert.equal(leaders.at(-1), '10.1.0.20:6380');
    assert.equal(new Set(leaders).size, leaders.length);
    // 21 addresses once each (the 20th moved last): the newest 16 start at the 6th.
    assert.equal(leaders[0], '10.1.0.6:6380');
  });

  test('the key lives beside the state, on no lease', () => {
    assert.equal(groupKeys('/rbuddy', 'cache').pastLeaders, '/rbuddy/cache/past-leaders');
  });
});

describe('takeover: the replicas of a past leader', () => {
  const OLD = '10.0.0.8:6382';
  const SEEN = '10.0.0.7:6382';

  function checker(verdict: AddressVerdict): {
    check: (announce: string) => Promise<AddressVerdict>;
    asked: string[];
  } {
    const asked: string[] = [];
    return {
      asked,
      check: (announce) => {
        asked.push(announce);
        return Promise.resolve(verdict);
      },
    };
  }

  const following = (master: string, linkUp = false): FakeNodeOps =>
    new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master, linkUp, keys: 10 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master }),
    });

  test('nothing answers there and the links are down: both repointed, one question', async () => {
    const ops = following(OLD);
    const { check, asked } = checker({ kind: 'gone', why: 'connect ECONNREFUSED' });
    const result = await repointReplicas(
      [A, B],
      ops,
      groupAddresses(FAKE_ANNOUNCE, [], [OLD], check),
    );
    assert.deepEqual(result.repointed, [A.id, B.id]);
    assert.deepEqual(result.leftAlone, []);
    assert.equal(result.settled, true);
    assert.deepEqual(asked, [OLD]);
  });

  test('an instance of the group answers there (a deposed leader still running): repointed', async () => {
    const ops = following(OLD, true);
    const result = await repointReplicas(
      [A, B],
      ops,
      groupAddresses(FAKE_ANNOUNCE, [], [OLD], checker({ kind: 'instance' }).check),
    );
    assert.deepEqual(result.repointed, [A.id, B.id]);
  });

  test('a foreign master answers there: left alone, for good, with what it said', async () => {
    const ops = following(OLD, true);
    const verdict: AddressVerdict = {
      kind: 'foreign',
      why: 'SENTINEL myid: ERR unknown command, ROLE "master"',
    };
    const result = await repointReplicas(
      [A, B],
      ops,
      groupAddresses(FAKE_ANNOUNCE, [], [OLD], checker(verdict).check),
    );
    assert.deepEqual(result.repointed, []);
    assert.deepEqual(ops.callsOf('attach'), []);
    assert.equal(result.settled, true, 'nothing to retry: the engine reports it');
    assert.deepEqual(
      result.leftAlone.map((left) => [left.node, left.master, left.retry]),
      [
        [A.id, OLD, false],
        [B.id, OLD, false],
      ],
    );
    assert.match(result.leftAlone[0]?.why ?? '', /not an instance of this group.*ROLE "master"/);
  });

  test('nothing answers for this instance, yet the replica is linked there: not yet, retried', async () => {
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master: OLD, linkUp: true, keys: 10 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master: OLD }),
    });
    const check = checker({ kind: 'gone', why: 'connect ETIMEDOUT' }).check;
    const result = await repointReplicas(
      [A, B],
      ops,
      groupAddresses(FAKE_ANNOUNCE, [], [OLD], check),
    );
    assert.deepEqual(result.repointed, [B.id], 'the held standby, its link down, moves');
    assert.equal(result.settled, false);
    assert.deepEqual(
      result.leftAlone.map((left) => [left.node, left.retry]),
      [[A.id, true]],
    );
  });

  test('no answer could be read there: left alone, retried', async () => {
    const ops = following(OLD);
    const check = checker({ kind: 'unknown', why: 'Connection is closed.' }).check;
    const result = await repointReplicas(
      [A, B],
      ops,
      groupAddresses(FAKE_ANNOUNCE, [], [OLD], check),
    );
    assert.deepEqual(result.repointed, []);
    assert.equal(result.settled, false);
  });

  test('an instance seen registered is repointed without a question; an unknown address is not asked about', async () => {
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master: SEEN, keys: 10 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master: '10.0.0.99:6379' }),
    });
    const { check, asked } = checker({ kind: 'foreign', why: 'never asked' });
    const result = await repointReplicas(
      [A, B],
      ops,
      groupAddresses(FAKE_ANNOUNCE, [SEEN], [SEEN, OLD], check),
    );
    assert.deepEqual(result.repointed, [A.id]);
    assert.deepEqual(asked, []);
    assert.deepEqual(result.leftAlone, []);
  });

  test("this instance's own --announce is never a past leader to take over from", () => {
    const group = groupAddresses(FAKE_ANNOUNCE, [FAKE_ANNOUNCE, SEEN], [FAKE_ANNOUNCE, OLD], () =>
      Promise.resolve({ kind: 'instance' }),
    );
    assert.deepEqual([...group.seen], [SEEN]);
    assert.deepEqual([...group.former.values()], [OLD]);
  });
});
