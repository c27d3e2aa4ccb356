// EtcdCoordination against a real 3-member etcd cluster, two instances in this process: one
// leads at a time, a closed or lost lease hands over, a deposed leader's writes change nothing,
// a leader cut off from etcd stops acting while its lease is still alive in etcd, and without a
// quorum nobody acts (docs/design.md, "High availability").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import type { EtcdCoordination } from '../../src/ha/etcd-coordination.js';
import {
  CoordinationRig,
  TEST_IDENTITY,
  testEtcdClient,
} from '../helpers/etcd-coordination-rig.js';
import { EtcdStateStore } from '../../src/ha/etcd-state-store.js';
import { writtenByOf } from '../../src/ha/written-by.js';
import type { LeaderGuard } from '../../src/ha/leader-guard.js';
import { errorCode } from '../../src/errors.js';
import { steady } from '../helpers/decide-fixtures.js';

const LEASE_MS = 4_000;
/** What every instance here manages unless a test gives it another master or nodes. */
const IDENTITY = TEST_IDENTITY;

const rig = new CoordinationRig(LEASE_MS);
/** Rounds begun, by instance id. */
const rounds = new Map<string, number>();

function instance(
  group: string,
  id: string,
  hosts: readonly string[] = rig.cluster.clientUrls,
  leaseMs = LEASE_MS,
  announce = `127.0.0.1:${20_000 + rig.instances.length}`,
  identity = IDENTITY,
): EtcdCoordination {
  const client = testEtcdClient(hosts, leaseMs);
  // Each round reads the registrations once: counted, so a test can wait for rounds to pass.
  const getAll = client.getAll.bind(client);
  client.getAll = () => {
    rounds.set(id, (rounds.get(id) ?? 0) + 1);
    return getAll();
  };
  const http = `127.0.0.1:${30_000 + rig.instances.length}`;
  return rig.instance(group, id, { client, leaseMs, announce, http, identity });
}

async function leaderOf(...all: EtcdCoordination[]): Promise<EtcdCoordination> {
  return waitFor(() => all.find((c) => c.mayAct()), {
    what: `a leader among ${all.map((c) => c.self.id).join(', ')}`,
    explain: () => JSON.stringify(all.map((c) => [c.self.id, c.status()])),
  });
}

/** Waits until `x` has run `count` whole rounds from now (rounds run one after the other). */
async function roundsOf(x: EtcdCoordination, count: number): Promise<void> {
  const from = rounds.get(x.self.id) ?? 0;
  await waitFor(() => (rounds.get(x.self.id) ?? 0) >= from + count + 1, {
    what: `${x.self.id} to run ${count} rounds`,
  });
}

/** The lease's remaining TTL in seconds as etcd reports it (-1 once expired or revoked). */
async function etcdTtl(leaseId: string): Promise<number> {
  const response = await rig.direct.leaseClient.leaseTimeToLive({ ID: leaseId });
  return Number(response.TTL);
}

function guardOf(coordination: EtcdCoordination): LeaderGuard {
  const guard = coordination.guard();
  assert.ok(guard !== undefined, `${coordination.self.id} leads`);
  return guard;
}

describe('EtcdCoordination on a real etcd cluster', () => {
  rig.hooks();

  it('exactly one of two rig.instances leads; the other sees it and its peer', async () => {
    const a = instance('one', 'a');
    const b = instance('one', 'b');
    await Promise.all([a.start(), b.start()]);
    const leader = await leaderOf(a, b);
    const follower = leader === a ? b : a;
    assert.equal(follower.mayAct(), false);
    await waitFor(() => follower.status().leaderAnnounce === leader.self.announce, {
      what: 'the follower names the leader',
    });
    // Each reads the registrations once a retry period: the one started first may not have seen
    // the other's yet.
    await waitFor(() => follower.peers().length === 1 && leader.peers().length === 1, {
      what: 'each sees the other',
    });
    assert.deepEqual(follower.peers(), [leader.self]);
    assert.deepEqual(leader.peers(), [follower.self]);
    const status = leader.status();
    assert.equal(status.leader, true);
    assert.equal(status.takeovers, 1);
    assert.equal(status.problem, null);
    assert.ok(status.leaseRemainingMs !== null && status.leaseRemainingMs > 0);
    assert.equal(follower.status().leader, false);
    assert.equal(follower.status().leaseRemainingMs, null);
  });

  it("the followers read the leader's live report; a new leader's stands only once it wrote one", async () => {
    const a = instance('report', 'a');
    const b = instance('report', 'b');
    const c = instance('report', 'c');
    await Promise.all([a.start(), b.start(), c.start()]);
    const first = await leaderOf(a, b, c);
    const report = {
      state: 'master-lost' as const,
      reason: 'master down',
      masterUp: false,
      epoch: 4,
    };
    first.publishReport(report);
    const rest = [a, b, c].filter((x) => x !== first);
    for (const follower of rest) {
      await waitFor(() => follower.leaderReport()?.state === 'master-lost', {
        what: `${follower.self.id} reads the report`,
      });
      assert.deepEqual(follower.leaderReport(), report);
    }
    const stored = await rig.direct.get('/test/report/leader-status').exec();
    assert.equal(stored.kvs[0]?.lease, guardOf(first).leaseId, "on the leader's lease");
    await first.close();
    const second = await leaderOf(...rest);
    const other = rest.find((x) => x !== second);
    assert.ok(other !== undefined);
    await waitFor(() => other.status().leaderAnnounce === second.self.announce, {
      what: 'the new leader seen',
    });
    assert.equal(other.leaderReport(), null, 'the old report went with its lease');
    second.publishReport({ ...report, state: 'healthy', masterUp: true });
    await waitFor(() => other.leaderReport()?.state === 'healthy', { what: 'the new report' });
  });

  it('an instance whose --announce another live instance registered first stands back', async () => {
    const a = instance('same-announce', 'a', undefined, undefined, '127.0.0.1:6390');
    await a.start();
    await leaderOf(a);
    const b = instance('same-announce', 'b', undefined, undefined, '127.0.0.1:6390');
    const c = instance('same-announce', 'c');
    await Promise.all([b.start(), c.start()]);
    await waitFor(() => b.status().problem?.includes('127.0.0.1:6390') === true, {
      what: 'b reports the conflict',
      explain: () => JSON.stringify(b.status()),
    });
    assert.match(
      b.status().problem ?? '',
      /\(id a, .*already registered this --announce 127\.0\.0\.1:6390/,
    );
    await waitFor(() => c.peers().length === 2, { what: 'c sees a and b' });
    // Neither lists the other, whose address is its own; a, registered first, stays healthy.
    const ids = (x: EtcdCoordination): string =>
      x
        .peers()
        .map((p) => p.id)
        .join(',');
    await waitFor(() => ids(a) === 'c' && ids(b) === 'c', {
      what: 'a and b each list only c',
      explain: () => `a: ${ids(a)}, b: ${ids(b)}`,
    });
    assert.equal(a.status().problem, null);
    // a goes: b's --announce still does not reach b (it is a's), so b stays out for good; c leads.
    await a.close();
    assert.equal(await leaderOf(b, c), c);
    await waitFor(() => c.peers().length === 1, { what: "a's registration gone" });
    assert.match(b.status().problem ?? '', /already registered this --announce.*restart this one/);
    assert.equal(b.mayAct(), false);
  });

  it('an instance given another master or other nodes never campaigns, even once the others are gone', async () => {
    const a = instance('drift', 'a');
    await a.start();
    await leaderOf(a);
    const recorded = await waitFor(() => rig.direct.get('/test/drift/identity').json(), {
      what: "the leader records the group's master and nodes",
    });
    assert.deepEqual(recorded, { ...IDENTITY, recordedBy: a.self });
    const otherMaster = instance('drift', 'b', undefined, undefined, undefined, {
      ...IDENTITY,
      master: '127.0.0.1:7379',
    });
    const otherNode = instance('drift', 'c', undefined, undefined, undefined, {
      ...IDENTITY,
      nodes: ['127.0.0.1:6380', '127.0.0.1:7381'],
    });
    // The same two nodes in the other order: roles come from the group's state, not the flags.
    const swapped = instance('drift', 'd', undefined, undefined, undefined, {
      ...IDENTITY,
      nodes: ['127.0.0.1:6381', '127.0.0.1:6380'],
    });
    await Promise.all([otherMaster.start(), otherNode.start(), swapped.start()]);
    assert.match(
      otherMaster.status().problem ?? '',
      new RegExp(
        `^--master differs: this instance has 127\\.0\\.0\\.1:7379, the group's is 127\\.0\\.0\\.1:6379 \\(recorded in /test/drift/identity by instance a \\(announce ${a.self.announce}, http ${a.self.http}\\)\\)`,
      ),
    );
    assert.match(
      otherNode.status().problem ?? '',
      /^--active\/--standby differ: this instance has 127\.0\.0\.1:6380 and 127\.0\.0\.1:7381, the group's are 127\.0\.0\.1:6380 and 127\.0\.0\.1:6381/,
    );
    assert.equal(swapped.status().problem, null);
    // The leader goes: the one that agrees leads; the other two still do not, though the
    // instance that recorded the group's identity is gone.
    await a.close();
    assert.equal(await leaderOf(otherMaster, otherNode, swapped), swapped);
    await swapped.close();
    await waitFor(() => otherMaster.status().leaderAnnounce === null, {
      what: 'nobody leads',
      explain: () => JSON.stringify([otherMaster.status(), otherNode.status()]),
    });
    // Two more rounds each, nobody leading and no live instance to compare with: neither
    // campaigns.
    await Promise.all([roundsOf(otherMaster, 2), roundsOf(otherNode, 2)]);
    assert.equal(otherMaster.mayAct() || otherNode.mayAct(), false);
    assert.match(otherMaster.status().problem ?? '', /^--master differs/);
    assert.equal(await rig.direct.get('/test/drift/leader').string(), null);
  });

  it('junk under members/ (more keys than any group has): nobody campaigns, saying so; removed, one leads', async () => {
    // Reviewer round 6, F4: read in one range, 20,000 junk keys failed past the client's 4 MiB
    // message limit, reported as "etcd unreachable or without quorum".
    const a = instance('junk', 'a');
    const prefix = a.keys.members;
    for (let from = 0; from < 300; from += 100) {
      const puts = [];
      for (let i = from; i < from + 100; i += 1)
        puts.push(rig.direct.put(`${prefix}junk-${i}`).value('x'));
      await rig.direct
        .if(`${prefix}none`, 'Create', '==', 0)
        .then(...puts)
        .commit();
    }
    await a.start();
    await waitFor(() => /holds more than 256 keys/.test(a.status().problem ?? ''), {
      what: 'a says what is wrong',
      explain: () => JSON.stringify(a.status()),
    });
    assert.equal(a.mayAct(), false);
    await rig.direct.delete().prefix(`${prefix}junk-`);
    await leaderOf(a);
  });

  it('a few large values under members/ (5 × 1 MB): the instances still campaign and one leads', async () => {
    // Reviewer round 7, R7-1: members/ read in one range made one answer of 5 MB, past the
    // client's 4 MiB message limit, and nobody campaigned. Each value is now read on its own.
    const a = instance('large', 'a');
    const b = instance('large', 'b');
    const junk = 'j'.repeat(1_000_000);
    for (let i = 0; i < 5; i += 1) await rig.direct.put(`${a.keys.members}junk-${i}`).value(junk);
    await Promise.all([a.start(), b.start()]);
    const leader = await leaderOf(a, b);
    assert.equal(leader.status().problem, null);
    await rig.direct.delete().prefix(`${a.keys.members}junk-`);
  });

  it('before any identity is recorded, the later of two registrations that disagree stands back', async () => {
    // A registration with another master, made first, by an instance that never leads.
    await rig.direct
      .put('/test/early/members/x')
      .value(
        JSON.stringify({
          id: 'x',
          announce: '127.0.0.1:6999',
          http: '127.0.0.1:9990',
          identity: { ...IDENTITY, master: '127.0.0.1:7379' },
        }),
      )
      .exec();
    const b = instance('early', 'b');
    await b.start();
    assert.match(
      b.status().problem ?? '',
      /^--master differs: this instance has 127\.0\.0\.1:6379, the group's is 127\.0\.0\.1:7379 \(that of instance x \(announce 127\.0\.0\.1:6999, http 127\.0\.0\.1:9990\), registered before this one\)/,
    );
    assert.equal(b.mayAct(), false);
    await rig.direct.delete().key('/test/early/members/x').exec();
    await leaderOf(b);
  });

  it('closing the leader, then revoking the new leader’s lease, hands over each time', async () => {
    const a = instance('handover', 'a');
    const b = instance('handover', 'b');
    const c = instance('handover', 'c');
    await Promise.all([a.start(), b.start(), c.start()]);
    const first = await leaderOf(a, b, c);
    await first.close();
    const rest = [a, b, c].filter((x) => x !== first);
    const second = await leaderOf(...rest);
    let deposed: string | undefined;
    second.on('deposed', (reason) => (deposed = reason));
    // The lease expiring in etcd, as when the leader's host dies: revoked behind its back.
    await rig.direct.leaseClient.leaseRevoke({ ID: guardOf(second).leaseId });
    const third = await leaderOf(...rest.filter((x) => x !== second));
    await waitFor(() => deposed, { what: 'the revoked leader deposed' });
    assert.equal(second.mayAct(), false);
    assert.equal(third.status().leaderAnnounce, third.self.announce);
  });

  it("a deposed leader's save rejects with NotLeaderError and leaves the state as it was", async () => {
    const a = instance('fence', 'a');
    await a.start();
    await leaderOf(a);
    const stale = guardOf(a);
    await a.store.save(steady({ epoch: 1 }));
    // Deposed without knowing it yet: its lease is gone and another instance was elected.
    await rig.direct.leaseClient.leaseRevoke({ ID: stale.leaseId });
    const b = instance('fence', 'b');
    await b.start();
    await leaderOf(b);
    await b.store.save(steady({ epoch: 2 }));
    // A store that still carries the old leader's fence, as a write already on its way does.
    let lost: string | undefined;
    const late = new EtcdStateStore(rig.direct, a.keys.state, {
      guard: () => stale,
      fenceLost: (reason) => (lost = reason),
    });
    await assert.rejects(late.save(steady({ epoch: 99 })), (error) => {
      assert.equal(errorCode(error), 'RBUDDY_ERR_NOT_LEADER');
      return true;
    });
    assert.ok(lost !== undefined, 'the fence loss is reported');
    await waitFor(() => !a.mayAct(), { what: 'the old leader knows it was deposed' });
    await assert.rejects(a.store.save(steady({ epoch: 98 })), (error) => {
      assert.equal(errorCode(error), 'RBUDDY_ERR_NOT_LEADER');
      return true;
    });
    const loaded = await b.store.load();
    assert.equal(loaded.kind, 'ok');
    assert.equal(loaded.kind === 'ok' ? loaded.state.epoch : -1, 2);
    assert.equal(loaded.file, 'etcd:/test/fence/state');
    // The key names its writer and the fence it wrote under; the engine never sees the stamp.
    const stored: unknown = JSON.parse((await rig.direct.get(a.keys.state).string()) ?? 'null');
    const { id, announce } = b.self;
    assert.deepEqual(writtenByOf(stored), { id, announce, fence: guardOf(b).fence });
    assert.ok(loaded.kind === 'ok' && !('writtenBy' in loaded.state));
  });

  it('load() refuses a state no leader wrote; lastLeaderWritten() goes back to one', async () => {
    const a = instance('writers', 'a');
    const b = instance('writers', 'b');
    await Promise.all([a.start(), b.start()]);
    const leader = await leaderOf(a, b);
    const follower = leader === a ? b : a;
    await leader.store.save(steady({ epoch: 4 }));
    const good = await follower.store.load();
    assert.ok(good.kind === 'ok' && good.state.epoch === 4, JSON.stringify(good));
    const saved = JSON.parse((await rig.direct.get(a.keys.state).string()) ?? 'null') as object;
    // No stamp; then the leader's own stamp with an edit made after a new leader was elected.
    await rig.direct.put(a.keys.state).value(JSON.stringify(steady({ epoch: 9 })));
    const bare = await follower.store.load();
    assert.ok(bare.kind === 'corrupt' && bare.untrusted === true, JSON.stringify(bare));
    assert.match(bare.why, /no writtenBy/);
    const alien = { ...saved, epoch: 9, writtenBy: { id: 'x', announce: 'h:1', fence: 3 } };
    await rig.direct.put(a.keys.state).value(JSON.stringify(alien));
    const wrong = await follower.store.load();
    assert.ok(wrong.kind === 'corrupt' && wrong.untrusted === true, JSON.stringify(wrong));
    assert.match(
      wrong.why,
      new RegExp(`while instance ${leader.self.id} led under fence ${guardOf(leader).fence}`),
    );
    const back = await follower.store.lastLeaderWritten();
    assert.equal(back?.epoch, 4, 'two versions back: the one the leader saved');
    // The leader's last state stays the group's once it is gone (the takeover window), for the
    // one that saw it lead and for a store that never did (etcd's history answers).
    await rig.direct.put(a.keys.state).value(JSON.stringify(saved));
    await leader.close(); // its lease revoked: the leader key is gone
    const kept = await follower.store.load();
    assert.ok(kept.kind === 'ok' && kept.state.epoch === 4, JSON.stringify(kept));
    const fresh = new EtcdStateStore(
      rig.direct,
      a.keys.state,
      { guard: () => undefined, fenceLost: () => undefined },
      a.keys.leader,
    );
    const seen = await fresh.load();
    assert.ok(seen.kind === 'ok' && seen.state.epoch === 4, JSON.stringify(seen));
  });

  it('load() tells missing from corrupt', async () => {
    const a = instance('load', 'a');
    assert.equal((await a.store.load()).kind, 'missing');
    await rig.direct.put(a.keys.state).value('{"version":1');
    const corrupt = await a.store.load();
    assert.equal(corrupt.kind, 'corrupt');
    await rig.direct.put(a.keys.state).value(JSON.stringify({ ...steady(), epoch: -1 }));
    const invalid = await a.store.load();
    assert.ok(invalid.kind === 'corrupt' && invalid.why.includes('epoch'), JSON.stringify(invalid));
  });

  it('a leader cut off from etcd stops acting before etcd expires its lease; the other takes over', async () => {
    const leaseMs = 6_000;
    const { urls, all: forwarders } = await rig.cluster.forwarders();
    const a = instance('partition', 'a', urls, leaseMs);
    await a.start();
    await leaderOf(a);
    const b = instance('partition', 'b', rig.cluster.clientUrls, leaseMs);
    await b.start();
    const leaseId = guardOf(a).leaseId;
    // Sampled all along: never two instances acting at once.
    let both = 0;
    const sampler = setInterval(() => {
      if (a.mayAct() && b.mayAct()) both += 1;
    }, 10);
    // Asked of etcd the moment it stops acting (a wrapper: waitFor would await the promise).
    let whenDeposed: { ttl: Promise<number> } | undefined;
    a.on('deposed', () => {
      whenDeposed ??= { ttl: etcdTtl(leaseId) };
    });
    try {
      for (const forwarder of forwarders) forwarder.setMode({ kind: 'blackhole' });
      const deposed = await waitFor(() => whenDeposed, {
        what: 'the partitioned leader deposed',
        timeoutMs: leaseMs * 3,
      });
      assert.equal(a.mayAct(), false);
      const ttl = await deposed.ttl;
      assert.ok(ttl > 0, `etcd still held the lease when it stopped acting (TTL ${ttl} s)`);
      assert.equal(b.mayAct(), false, 'nobody else leads while that lease lives');
      await leaderOf(b);
      assert.ok((await etcdTtl(leaseId)) <= 0, 'the other leads only once that lease is gone');
      assert.match(a.status().problem ?? '', /etcd/);
    } finally {
      clearInterval(sampler);
      for (const forwarder of forwarders) forwarder.setMode({ kind: 'pass' });
    }
    assert.equal(both, 0);
    // Back in touch: a follows (campaigns again, on a new lease) and sees b lead.
    await waitFor(
      () => a.status().problem === null && a.status().leaderAnnounce === b.self.announce,
      {
        what: 'the partitioned instance follows again',
        explain: () => JSON.stringify(a.status()),
      },
    );
    assert.equal(a.mayAct(), false);
  });

  it('without a quorum nobody acts and both say why; with it back, one leads again', async () => {
    const a = instance('quorum', 'a');
    const b = instance('quorum', 'b');
    await Promise.all([a.start(), b.start()]);
    await leaderOf(a, b);
    await rig.cluster.stop(1);
    await rig.cluster.stop(2);
    await waitFor(() => !a.mayAct() && !b.mayAct() && a.status().problem && b.status().problem, {
      what: 'both rig.instances stop acting and report the problem',
      timeoutMs: LEASE_MS * 4,
      explain: () => JSON.stringify([a.status(), b.status()]),
    });
    assert.match(a.status().problem ?? '', /etcd/);
    await rig.cluster.start(1);
    await rig.cluster.start(2);
    await leaderOf(a, b);
    await waitFor(() => a.status().problem === null && b.status().problem === null, {
      what: 'both healthy again',
      explain: () => JSON.stringify([a.status(), b.status()]),
    });
  });
});
