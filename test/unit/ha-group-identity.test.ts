// What the instances of one group must agree on (src/ha/group-identity.ts, docs/ha.md): the
// identity built from the flags, how two are compared (the nodes as a set, spellings only up to
// host case and IPv6 brackets), what `<group>/identity` may hold, and which side is the group's:
// the recorded identity when there is one, else the earliest live registration.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  identityConflict,
  identityDifference,
  identityOf,
  parseIdentity,
  readIdentity,
  recordedText,
  registrationText,
  type GroupIdentity,
  type IdentityCheck,
} from '../../src/ha/group-identity.js';
import type { MemberEntry } from '../../src/ha/members.js';

const hp = (text: string): { host: string; port: number } => {
  const colon = text.lastIndexOf(':');
  return {
    host: text.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(text.slice(colon + 1)),
  };
};

const flags = (master: string, active: string, standby: string): GroupIdentity =>
  identityOf({ master: hp(master), active: hp(active), standby: hp(standby), etcdLeaseMs: 5000 });

const MINE = flags('10.0.0.2:6379', '10.0.0.5:6379', '10.0.0.6:6379');
const KEY = '/rbuddy/g/identity';
const PREFIX = '/rbuddy/g/members/';
const SELF = { id: 'me', announce: '10.0.1.2:6380', http: '10.0.1.2:9999' };
const A = { id: 'a', announce: '10.0.1.1:6380', http: '10.0.1.1:9999' };

function entry(
  info: typeof A,
  identity: GroupIdentity | undefined,
  revision: number,
  lease: string,
): MemberEntry {
  return {
    key: PREFIX + info.id,
    value: identity === undefined ? JSON.stringify(info) : registrationText(info, identity),
    createRevision: revision,
    lease,
  };
}

function check(overrides: Partial<IdentityCheck>): string | null {
  return identityConflict({
    mine: MINE,
    key: KEY,
    recorded: { kind: 'missing' },
    membersPrefix: PREFIX,
    entries: [entry(SELF, MINE, 20, '2')],
    self: SELF,
    selfLease: '2',
    ...overrides,
  });
}

describe('the identity of an instance', () => {
  it('is its --master and its two nodes, in one order whatever the roles given', () => {
    assert.deepEqual(MINE, {
      master: '10.0.0.2:6379',
      nodes: ['10.0.0.5:6379', '10.0.0.6:6379'],
      leaseMs: 5000,
    });
    assert.deepEqual(flags('10.0.0.2:6379', '10.0.0.6:6379', '10.0.0.5:6379'), MINE);
    assert.deepEqual(flags('[::1]:6379', '[::1]:7000', 'a.example:7000').master, '[::1]:6379');
  });

  it('differs by --master, or by the set of nodes; not by their order, host case or brackets', () => {
    const same = [
      flags('10.0.0.2:6379', '10.0.0.6:6379', '10.0.0.5:6379'),
      { master: '10.0.0.2:6379', nodes: ['10.0.0.6:6379', '10.0.0.5:6379'] as [string, string] },
    ];
    for (const theirs of same) assert.equal(identityDifference(MINE, theirs), null);
    assert.equal(
      identityDifference(
        flags('Redis.Example:6379', 'a:1', 'b:1'),
        flags('redis.example:6379', 'b:1', 'a:1'),
      ),
      null,
    );
    assert.equal(
      identityDifference(flags('[::1]:6379', 'a:1', 'b:1'), {
        master: '::1:6379',
        nodes: ['a:1', 'b:1'],
      }),
      null,
    );
    assert.equal(
      identityDifference(MINE, flags('10.0.0.3:6379', '10.0.0.5:6379', '10.0.0.6:6379')),
      "--master differs: this instance has 10.0.0.2:6379, the group's is 10.0.0.3:6379",
    );
    assert.equal(
      identityDifference(MINE, flags('10.0.0.2:6380', '10.0.0.5:6379', '10.0.0.6:6379')),
      "--master differs: this instance has 10.0.0.2:6379, the group's is 10.0.0.2:6380",
    );
    assert.equal(
      identityDifference(MINE, flags('10.0.0.2:6379', '10.0.0.5:6379', '10.0.0.7:6379')),
      "--active/--standby differ: this instance has 10.0.0.5:6379 and 10.0.0.6:6379, the group's are 10.0.0.5:6379 and 10.0.0.7:6379",
    );
    // A hostname and an IP of one host are two spellings: reported, never resolved.
    assert.match(
      identityDifference(MINE, flags('redis-master:6379', '10.0.0.5:6379', '10.0.0.6:6379')) ?? '',
      /^--master differs/,
    );
  });

  it('differs by --etcd-lease-ms, unless one side predates it (a record of an older version)', () => {
    const longer = { ...MINE, leaseMs: 20_000 };
    assert.equal(
      identityDifference(longer, MINE),
      "--etcd-lease-ms differs: this instance has 20000, the group's is 5000",
    );
    const older = { master: MINE.master, nodes: MINE.nodes };
    assert.equal(identityDifference(longer, older), null);
    assert.deepEqual(parseIdentity(older), older);
    assert.deepEqual(parseIdentity({ ...older, leaseMs: -1 }), older, 'a bad lease is no lease');
  });

  it('is read back only when whole', () => {
    assert.deepEqual(parseIdentity(MINE), MINE);
    for (const bad of [
      null,
      [],
      {},
      { master: '', nodes: ['a', 'b'] },
      { master: 'm:1', nodes: ['a'] },
      { master: 'm:1', nodes: ['a', 2] },
      { master: 'm:1', nodes: ['a', 'b', 'c'] },
    ]) {
      assert.equal(parseIdentity(bad), null, JSON.stringify(bad));
    }
  });
});

describe('<group>/identity', () => {
  it('holds the identity and who recorded it; anything else is garbage', () => {
    const text = recordedText(MINE, A);
    assert.deepEqual(JSON.parse(text), { ...MINE, recordedBy: A });
    assert.deepEqual(readIdentity(text), { kind: 'ok', recorded: { identity: MINE, by: A } });
    assert.deepEqual(readIdentity(null), { kind: 'missing' });
    for (const bad of [
      '',
      'not json',
      '{}',
      JSON.stringify(MINE),
      JSON.stringify({ ...MINE, recordedBy: { id: '' } }),
    ]) {
      assert.deepEqual(readIdentity(bad), { kind: 'garbage' }, bad);
    }
  });
});

describe('which side is the group', () => {
  const otherMaster = flags('10.0.0.3:6379', '10.0.0.5:6379', '10.0.0.6:6379');

  it('a record under this very instance that differs from its flags: changed by hand, said so', () => {
    // Before, the message blamed this instance's own --master, the value in the edit.
    const edited = { kind: 'ok' as const, recorded: { identity: otherMaster, by: SELF } };
    const why = check({ recorded: edited }) ?? '';
    assert.match(
      why,
      /^\/rbuddy\/g\/identity was changed since this instance recorded it \(--master differs/,
    );
    assert.match(why, /restore it or, with every instance stopped, delete it/);
  });

  it('the recorded identity decides, whoever is registered, and names who recorded it', () => {
    const recorded = { kind: 'ok' as const, recorded: { identity: otherMaster, by: A } };
    assert.equal(
      check({ recorded }),
      "--master differs: this instance has 10.0.0.2:6379, the group's is 10.0.0.3:6379 (recorded in /rbuddy/g/identity by instance a (announce 10.0.1.1:6380, http 10.0.1.1:9999)): every instance of a group must be given the same --master and the same two nodes, spelled alike, and the same --etcd-lease-ms (docs/ha.md)",
    );
    // An earlier registration that agrees with us does not outvote the record.
    assert.notEqual(
      check({ recorded, entries: [entry(A, MINE, 10, '1'), entry(SELF, MINE, 20, '2')] }),
      null,
    );
    // Recorded and ours alike: a later registration that disagrees is its own problem.
    const ours = { kind: 'ok' as const, recorded: { identity: MINE, by: A } };
    assert.equal(
      check({
        recorded: ours,
        entries: [entry(A, otherMaster, 10, '1'), entry(SELF, MINE, 20, '2')],
      }),
      null,
    );
  });

  it('a key holding garbage is a conflict, never a missing record to overwrite', () => {
    assert.match(
      check({ recorded: { kind: 'garbage' } }) ?? '',
      /\/rbuddy\/g\/identity does not hold a group identity/,
    );
  });

  it('with nothing recorded, the earliest live registration is the group; the later one stands back', () => {
    const earlierOther = entry(A, otherMaster, 10, '1');
    assert.match(
      check({ entries: [earlierOther, entry(SELF, MINE, 20, '2')] }) ?? '',
      /^--master differs: .* \(that of instance a \(announce 10\.0\.1\.1:6380, http 10\.0\.1\.1:9999\), registered before this one\)/,
    );
    // Registered after us: not our problem (it stands back, seeing us first).
    assert.equal(
      check({ entries: [entry(A, otherMaster, 30, '1'), entry(SELF, MINE, 20, '2')] }),
      null,
    );
    // Our own registration not read back yet (or on another lease): every other one came first.
    assert.notEqual(check({ entries: [entry(A, otherMaster, 30, '1')] }), null);
    assert.notEqual(
      check({ entries: [entry(A, otherMaster, 30, '1'), entry(SELF, MINE, 20, '9')] }),
      null,
    );
    // An older instance that registers no identity (an earlier version) says nothing.
    assert.equal(
      check({ entries: [entry(A, undefined, 10, '1'), entry(SELF, MINE, 20, '2')] }),
      null,
    );
    // Agreeing earlier registrations, and a value that is not a registration of its key.
    const notA = {
      key: `${PREFIX}x`,
      value: registrationText(A, otherMaster),
      createRevision: 5,
      lease: '0',
    };
    assert.equal(
      check({ entries: [notA, entry(A, MINE, 10, '1'), entry(SELF, MINE, 20, '2')] }),
      null,
    );
    // The first that disagrees is named, in registration order.
    const c = { id: 'c', announce: '10.0.1.3:6380', http: '10.0.1.3:9999' };
    const otherNodes = flags('10.0.0.2:6379', '10.0.0.5:6379', '10.0.0.9:6379');
    assert.match(
      check({
        entries: [
          entry(A, otherMaster, 12, '1'),
          entry(c, otherNodes, 11, '3'),
          entry(SELF, MINE, 20, '2'),
        ],
      }) ?? '',
      /^--active\/--standby differ: .*instance c/,
    );
  });
});
