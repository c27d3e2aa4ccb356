// The pure parts of the etcd coordination: the renew-deadline arithmetic, the key layout, the
// registration read back from etcd, and the client options built from the configuration.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EtcdConfig } from '../../src/config/types.js';
import { etcdClientOptions, retryOnAnotherMember, withDeadline } from '../../src/ha/etcd-client.js';
import { GRPCResourceExhastedError, GRPCUnavailableError } from 'etcd3';
import { etcdFailureKind, etcdFailureProblem } from '../../src/ha/etcd-errors.js';
import { parseInstance } from '../../src/ha/instance-info.js';
import { groupKeys, MAX_SEQ, outboxSeq, seqKey } from '../../src/ha/keys.js';
import { memberAt, viewMembers, type MemberEntry } from '../../src/ha/members.js';
import { leaseRemainingMs, leaseTiming, withinRenewDeadline } from '../../src/ha/lease-timing.js';

const CONFIG: EtcdConfig = {
  etcd: ['http://10.0.0.7:2379'],
  etcdLeaseMs: 5_000,
  etcdPrefix: '/rbuddy',
  etcdUser: '',
  etcdPassword: '',
  etcdTlsCaCertFile: '',
  etcdTlsCertFile: '',
  etcdTlsKeyFile: '',
  announceCheck: true,
};

describe('lease timing', () => {
  it('acts for two thirds of the lease, renews five times per lease, calls end within a period', () => {
    const timing = leaseTiming(5_000);
    assert.equal(timing.ttlSeconds, 5);
    assert.equal(timing.renewDeadlineMs, 3_333);
    assert.equal(timing.retryPeriodMs, 1_000);
    assert.equal(timing.callTimeoutMs, 1_000);
    for (const leaseMs of [2_000, 5_000, 9_000, 300_000]) {
      const t = leaseTiming(leaseMs);
      // A renewal that fails at every attempt still leaves room for two more before the deadline,
      // and the deadline falls well before the lease can expire.
      assert.ok(t.retryPeriodMs * 3 <= t.renewDeadlineMs, `${leaseMs}`);
      assert.ok(t.renewDeadlineMs <= leaseMs - leaseMs / 4, `${leaseMs}`);
      assert.ok(t.callTimeoutMs <= t.retryPeriodMs);
    }
  });

  it('counts from when the renewal was sent, not when it was answered', () => {
    const timing = leaseTiming(6_000);
    assert.equal(withinRenewDeadline(timing, 1_000, 1_000 + 3_999), true);
    assert.equal(withinRenewDeadline(timing, 1_000, 1_000 + 4_000), false);
    assert.equal(withinRenewDeadline(timing, -Infinity, 0), false);
    assert.equal(leaseRemainingMs(6_000, 1_000, 2_500), 4_500);
    assert.equal(leaseRemainingMs(6_000, 1_000, 9_000), 0);
  });

  it('refuses a lease etcd would not keep as given', () => {
    for (const bad of [1_000, 2_500, 0, Number.NaN]) assert.throws(() => leaseTiming(bad));
  });
});

describe('key layout', () => {
  it('keeps every key of a group under <prefix>/<group>/', () => {
    const keys = groupKeys('/rbuddy', 'cache');
    assert.equal(keys.root, '/rbuddy/cache/');
    assert.equal(keys.leader, '/rbuddy/cache/leader');
    assert.equal(keys.state, '/rbuddy/cache/state');
    assert.equal(keys.member('i-1'), '/rbuddy/cache/members/i-1');
    assert.ok(keys.member('x').startsWith(keys.members));
    assert.equal(keys.outbox('webhook-ab'), '/rbuddy/cache/outbox/webhook-ab/');
    const entry = keys.outboxEntry('webhook-ab', 42);
    assert.equal(entry, '/rbuddy/cache/outbox/webhook-ab/0000000000000042');
    assert.equal(outboxSeq(keys.outbox('webhook-ab'), entry), 42);
    assert.equal(outboxSeq(keys.outbox('webhook-ab'), `${entry}.corrupt`), undefined);
    assert.equal(outboxSeq(keys.outbox('webhook-cd'), entry), undefined);
    // A huge number is no entry: counted from, the next key would be 1e16, 17 digits (unread).
    const huge = `${keys.outbox('webhook-ab')}9999999999999999`;
    assert.equal(outboxSeq(keys.outbox('webhook-ab'), huge), undefined);
    assert.equal(
      outboxSeq(keys.outbox('webhook-ab'), seqKey(keys.outbox('webhook-ab'), MAX_SEQ)),
      MAX_SEQ,
    );
    assert.equal(seqKey('', MAX_SEQ + 1_000_000).length, 16, 'far from the key width');
    // Key order is delivery order, as the file outbox's names are.
    assert.ok(keys.outboxEntry('w', 9) < keys.outboxEntry('w', 10));
    // A group whose name extends another's shares none of its keys.
    assert.ok(!groupKeys('/rbuddy', 'cache2').leader.startsWith(keys.root));
  });
});

describe('registrations read back', () => {
  it('accepts an InstanceInfo and nothing else', () => {
    const info = { id: 'a', announce: '10.0.0.1:6382', http: '10.0.0.1:9999' };
    assert.deepEqual(parseInstance(JSON.stringify({ ...info, extra: 1 })), info);
    for (const bad of ['', '{', '[]', '{"id":"","announce":"x","http":"y"}', '{"id":"a"}']) {
      assert.equal(parseInstance(bad), null, bad);
    }
  });
});

describe('members read back', () => {
  const prefix = '/rbuddy/g1/members/';
  const a = { id: 'a', announce: '10.0.0.1:6382', http: '10.0.0.1:9999' };
  const entry = (key: string, info: object, createRevision: number, lease = '7'): MemberEntry => ({
    key,
    value: JSON.stringify(info),
    createRevision,
    lease,
  });

  it('counts only `members/<id>` holding an InstanceInfo of that id', () => {
    assert.deepEqual(memberAt(prefix, `${prefix}a`, JSON.stringify(a)), a);
    // Group `g1/members` would write its leader key here; a hand-written entry names no id.
    assert.equal(memberAt(prefix, `${prefix}x/leader`, JSON.stringify({ ...a, id: 'x' })), null);
    assert.equal(memberAt(prefix, `${prefix}b`, JSON.stringify(a)), null);
    assert.equal(memberAt(prefix, prefix, JSON.stringify({ ...a, id: '' })), null);
    assert.equal(memberAt(prefix, `${prefix}e`, '{"announce":"evil.example:1"}'), null);
    assert.equal(memberAt(prefix, '/rbuddy/g2/members/a', JSON.stringify(a)), null);
  });

  it('never lists an instance with our --announce; the later of two registrations stands back', () => {
    const b = { id: 'b', announce: a.announce, http: '10.0.0.2:9999' };
    const c = { id: 'c', announce: '10.0.0.3:6382', http: '10.0.0.3:9999' };
    const entries = [
      entry(`${prefix}a`, a, 10, '1'),
      entry(`${prefix}b`, b, 20, '2'),
      entry(`${prefix}c`, c, 30, '3'),
    ];
    const older = viewMembers(prefix, entries, a, '1');
    assert.deepEqual(older, { others: [c], conflict: null, lasting: false });
    const newer = viewMembers(prefix, entries, b, '2');
    assert.deepEqual(newer.others, [c]);
    assert.equal(newer.lasting, true);
    // The same admin address: an earlier run of this instance, gone once its lease expires.
    const rerun = { ...a, id: 'a2' };
    const restarted = viewMembers(
      prefix,
      [entries[0], entries[2], entry(`${prefix}a2`, rerun, 40, '4')],
      rerun,
      '4',
    );
    assert.notEqual(restarted.conflict, null);
    assert.equal(restarted.lasting, false);
    assert.match(
      newer.conflict ?? '',
      /\(id a, http 10\.0\.0\.1:9999\).*--announce 10\.0\.0\.1:6382/,
    );
    // Not registered yet (our key not read back): any holder of our address came first.
    assert.notEqual(viewMembers(prefix, entries.slice(0, 1), b, '2').conflict, null);
    // Our id on a lease that is not ours: another live instance uses it.
    assert.match(viewMembers(prefix, entries, c, '9').conflict ?? '', /id c/);
  });

  it('a registration on no lease (put by hand) is no instance: never listed, never a conflict', () => {
    const fake = { id: 'f', announce: '10.6.6.6:6666', http: '10.6.6.6:6667' };
    const squatter = { id: 's', announce: a.announce, http: '10.6.6.6:9999' };
    const view = viewMembers(
      prefix,
      [
        entry(`${prefix}a`, a, 10, '1'),
        entry(`${prefix}f`, fake, 5, '0'),
        entry(`${prefix}s`, squatter, 4, '0'),
      ],
      a,
      '1',
    );
    assert.deepEqual(view, { others: [], conflict: null, lasting: false });
  });
});

describe('etcd client options', () => {
  it('puts a deadline on every attempt of a unary call', () => {
    const options = etcdClientOptions(CONFIG, 1_000);
    assert.deepEqual(options.hosts, ['http://10.0.0.7:2379']);
    assert.equal(options.auth, undefined);
    assert.equal(options.credentials, undefined);
    const factory = options.defaultCallOptions;
    assert.ok(typeof factory === 'function');
    const before = Date.now();
    const unary = factory({ service: 'KV', method: 'range', isStream: false, params: {} });
    assert.ok(typeof unary.deadline === 'number' && unary.deadline >= before + 1_000);
    assert.deepEqual(factory({ service: 'Lease', method: 'leaseKeepAlive', isStream: true }), {});
  });

  it('passes credentials, and names an unreadable TLS file by its setting', () => {
    const auth = etcdClientOptions({ ...CONFIG, etcdUser: 'u', etcdPassword: 'p' }, 1_000);
    assert.deepEqual(auth.auth, { username: 'u', password: 'p' });
    assert.throws(
      () =>
        etcdClientOptions(
          { ...CONFIG, etcd: ['https://e:2379'], etcdTlsCaCertFile: '/nonexistent/ca.pem' },
          1_000,
        ),
      (error: Error & { code?: string }) =>
        error.code === 'RBUDDY_ERR_CONFIG' && error.message.includes('etcdTlsCaCertFile'),
    );
  });

  it('withDeadline rejects a call that never answers', async () => {
    await assert.rejects(withDeadline(new Promise(() => undefined), 20, 'a call'), /a call/);
    assert.equal(await withDeadline(Promise.resolve(7), 1_000, 'x'), 7);
  });
});

describe('failed etcd rounds', () => {
  it('tells refused credentials from an outage', () => {
    const auth = new Error(
      '3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password',
    );
    assert.equal(etcdFailureKind(auth), 'auth');
    assert.match(
      etcdFailureProblem('auth', auth),
      /^etcd authentication failed: check --etcd-user/,
    );
    assert.equal(
      etcdFailureKind(new Error('7 PERMISSION_DENIED: etcdserver: permission denied')),
      'auth',
    );
    const down = new Error('14 UNAVAILABLE: No connection established');
    assert.equal(etcdFailureKind(down), 'unreachable');
    assert.match(etcdFailureProblem('unreachable', down), /^etcd unreachable or without quorum/);
  });

  it('says an oversized answer is junk under the prefix, and a timeout a slow etcd (round 7)', () => {
    const big = new Error(
      '8 RESOURCE_EXHAUSTED: Received message larger than max (5000590 vs 4194304)',
    );
    assert.match(
      etcdFailureProblem('unreachable', big),
      /larger than this client takes.*remove them/,
    );
    const slow = new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 0.600s');
    assert.match(etcdFailureProblem('unreachable', slow), /^etcd calls time out.*--etcd-lease-ms/);
  });

  it('an oversized answer is not tried on another member (every member says the same)', () => {
    assert.equal(
      retryOnAnotherMember(new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: x')),
      false,
    );
    assert.equal(retryOnAnotherMember(new GRPCUnavailableError('14 UNAVAILABLE: x')), true);
  });
});
