// Leadership (src/ha/leadership.ts) with the real FailoverEngine, fake nodes and proxy, and an
// in-memory group standing in for etcd (test/helpers/fake-coordination.ts): a follower changes
// nothing and answers from the group's state; an elected instance points the replicas that follow
// the old leader at itself and runs the engine on the group's state; a deposed one stops at once.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { waitFor } from '../../harness/wait-for.js';
import {
  FakeNodeOps,
  FAKE_ANNOUNCE,
  heldStandbyModel,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { FakeGroup, LEASE_MS } from '../helpers/fake-coordination.js';
import { A, B, WAIT, healthyState } from '../helpers/engine-harness.js';
import {
  OLD_LEADER,
  changes,
  refused,
  instance,
  ledByOther,
  stopInstances,
} from '../helpers/leadership-instance.js';

afterEach(stopInstances);

describe('Leadership', () => {
  test('a follower holds every sync, changes nothing and answers from the group state', async () => {
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops);
    const status = me.leadership.status();
    assert.equal(status.state, 'healthy');
    assert.match(status.reason ?? '', new RegExp(`leader ${OLD_LEADER} reports healthy`));
    assert.equal(status.epoch, 3);
    assert.equal(status.masterUp, true, "the leader's verdict");
    assert.deepEqual(me.leadership.roles(), { active: A.id, standby: B.id });
    assert.equal(me.leadership.holdsSync(A.id), true);
    assert.equal(me.leadership.holdsSync(B.id), true);
    assert.equal(me.leadership.gate(me.proxy.connect(A), { via: 'sync' }), 'close');
    const answer = me.leadership.request('failover');
    assert.equal(answer.accepted, false);
    assert.match(answer.accepted ? '' : answer.reason, /does not lead.*10\.0\.0\.8:6382/);
    assert.equal(me.leadership.ready(), true);
    assert.deepEqual(
      me.leadership.leadership().peers.map((peer) => peer.announce),
      [OLD_LEADER],
    );
    assert.equal(me.leadership.leadership().leader, false);
    assert.deepEqual(ops.operations(), [], 'a follower does not even read the nodes');
    assert.equal(me.probes.length, 0, 'nor probe the master');
  });

  test('elected: the replicas that follow the old leader follow this instance; the engine runs on the group state', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    await old.close(); // the old leader is gone (its registration too)
    group.elect(me.coordination);
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`]);
    assert.ok(ops.model(A.id).followsProxy && ops.model(B.id).followsProxy);
    // The active continues through this proxy: the engine sees it stream and is healthy.
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy' && me.leadership.holdsSync(B.id), {
      what: 'the leader healthy, the standby held',
      ...WAIT,
    });
    assert.equal(me.leadership.holdsSync(A.id), false, "the active's sync goes through");
    assert.equal(me.probes[0]?.started, true);
    assert.equal(me.leadership.leadership().takeovers, 1);
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`], 'nothing else');
  });

  test('elected before the listeners open: the log names the fence it was elected with', async () => {
    const { group, ops } = await ledByOther();
    const lines: { msg: string; fence?: number }[] = [];
    const logger = pino({}, { write: (line: string) => lines.push(JSON.parse(line) as never) });
    let fence = 0;
    await instance(group, ops, {
      logger,
      beforeStart: (coordination) => {
        coordination.on('elected', (value) => (fence = value));
        group.elect(coordination);
      },
    });
    const line = await waitFor(() => lines.find((l) => l.msg.startsWith('elected:')), {
      ...WAIT,
      what: 'the election logged',
    });
    assert.ok(fence > 0);
    assert.equal(line.fence, fence);
  });

  test('deposed: the engine and the probe stop at once; a master loss then changes nothing', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.elect(me.coordination);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading', ...WAIT });
    group.elect(old);
    // The leader again reports its own state (a report of this instance's term does not count,
    // and this instance may have published one before it was deposed).
    old.publishReport({ state: 'healthy', reason: null, masterUp: true, epoch: 3 });
    assert.equal(me.probes[0]?.stopped, true, 'the probe stopped in the same turn');
    assert.equal(me.leadership.holdsSync(A.id), true, 'following again');
    const before = changes(ops).length;
    const probe = me.probes[0];
    assert.ok(probe !== undefined);
    probe.up = false;
    me.leadership.onMasterProbe(false, 'connect ECONNREFUSED');
    me.proxy.loseUpstream(A, 'master gone');
    const views = ops.callsOf('view').length;
    await new Promise((resolve) => setTimeout(resolve, 100)); // 20 ticks of a live engine
    assert.equal(ops.callsOf('view').length, views, 'the engine observes no more');
    assert.equal(changes(ops).length, before, 'nothing promoted');
    assert.equal(group.state?.failover, null);
    assert.equal(me.leadership.status().state, 'healthy', JSON.stringify(me.leadership.status()));
  });

  test('a replica of the real master, or of an unknown address, is not repointed', async () => {
    const group = new FakeGroup();
    group.state = healthyState();
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, keys: 1000 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master: '10.0.0.7:1234' }),
    });
    const me = await instance(group, ops);
    group.elect(me.coordination);
    await waitFor(
      () => /replicates from another master/.test(me.leadership.status().reason ?? ''),
      {
        what: 'degraded: another master',
        ...WAIT,
      },
    );
    assert.equal(me.leadership.state, 'degraded');
    assert.deepEqual(ops.callsOf('attach'), []);
  });

  test('elected after the only past leader died, never seen: its replicas follow this instance', async () => {
    const group = new FakeGroup();
    group.state = healthyState();
    group.pastLeaders = [OLD_LEADER]; // it led, and its registration went with its lease
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, linkUp: false, keys: 1000 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER }),
    });
    const asked: Array<{ announce: string; recorded: string[] }> = [];
    const me = await instance(group, ops, {
      checkAddress: (announce) => {
        asked.push({ announce, recorded: [...group.pastLeaders] });
        return refused();
      },
    });
    assert.deepEqual(me.leadership.leadership().peers, []);
    group.elect(me.coordination);
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`]);
    assert.deepEqual(group.pastLeaders, [OLD_LEADER, FAKE_ANNOUNCE]);
    assert.deepEqual(
      asked[0],
      { announce: OLD_LEADER, recorded: [OLD_LEADER, FAKE_ANNOUNCE] },
      'this leader was recorded before it touched a node; one question for both replicas',
    );
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy', ...WAIT });
  });

  test("a past leader's address where a foreign master answers: left alone, said, degraded", async () => {
    const group = new FakeGroup();
    group.state = healthyState();
    group.pastLeaders = [OLD_LEADER];
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master: FAKE_ANNOUNCE }),
    });
    const lines: Array<{ msg: string; node?: string; master?: string; why?: string }> = [];
    const logger = pino({}, { write: (line: string) => lines.push(JSON.parse(line) as never) });
    const me = await instance(group, ops, {
      logger,
      checkAddress: () =>
        Promise.resolve({ kind: 'foreign', why: 'SENTINEL myid: ERR unknown command' }),
    });
    group.elect(me.coordination);
    await waitFor(
      () => /replicates from another master/.test(me.leadership.status().reason ?? ''),
      { what: 'degraded: another master', ...WAIT },
    );
    assert.deepEqual(ops.callsOf('attach'), []);
    const said = lines.filter((l) => l.msg.startsWith('takeover: not repointing'));
    assert.equal(said.length, 1, 'said once');
    assert.equal(said[0]?.node, A.id);
    assert.equal(said[0]?.master, OLD_LEADER);
    assert.match(said[0]?.why ?? '', /not an instance of this group \(SENTINEL myid: ERR/);
  });

  test('this leader could not be recorded: no node touched; the next term records it and takes over', async () => {
    const group = new FakeGroup();
    group.state = healthyState();
    group.pastLeaders = [OLD_LEADER];
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, linkUp: false, keys: 1000 }),
      [B.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER }),
    });
    let attempts = 0;
    const me = await instance(group, ops, {
      beforeStart: (coordination) => {
        const record = coordination.recordLeadership.bind(coordination);
        coordination.recordLeadership = () => {
          attempts += 1;
          return attempts === 1 ? Promise.reject(new Error('etcd: request timed out')) : record();
        };
      },
    });
    group.elect(me.coordination);
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
    assert.equal(attempts, 2);
    assert.equal(me.probes[0]?.started, false, 'the first term started nothing');
    assert.deepEqual(group.pastLeaders, [OLD_LEADER, FAKE_ANNOUNCE]);
  });

  test('no quorum: degraded with the reason, not ready; back: the state is read again', async () => {
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.loseQuorum('etcd: no quorum (1 of 3 members)');
    const status = me.leadership.status();
    assert.equal(status.state, 'degraded');
    assert.equal(status.reason, 'etcd: no quorum (1 of 3 members)');
    assert.equal(me.leadership.ready(), false);
    assert.deepEqual(me.leadership.roles(), { active: A.id, standby: B.id }, 'the last state read');
    group.quorumBack();
    assert.equal(me.leadership.status().state, 'degraded', 'nobody leads yet');
    group.elect(me.coordination);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading', ...WAIT });
  });

  test('garbage in the state key: a follower answers from the last good state, degraded', async () => {
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.corrupt = 'it is not valid JSON';
    await waitFor(() => me.leadership.state === 'degraded', { what: 'degraded', ...WAIT });
    const status = me.leadership.status();
    assert.match(status.reason ?? '', /corrupt.*not valid JSON.*last good state.*epoch 3/);
    assert.equal(status.active, A.id, 'discovery keeps the last good active');
    assert.equal(status.epoch, 3);
    assert.deepEqual(me.leadership.roles(), { active: A.id, standby: B.id });
    group.corrupt = undefined;
    await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy again', ...WAIT });
  });

  test('elected on a corrupt state: no REPLICAOF; the key put back: the takeover goes on', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.corrupt = 'it is not valid JSON';
    await old.close();
    group.elect(me.coordination);
    await waitFor(() => /corrupt/.test(me.leadership.status().reason ?? ''), {
      what: 'refusing the corrupt state',
      ...WAIT,
    });
    await new Promise((resolve) => setTimeout(resolve, 50)); // 10 polls of 5 ms
    assert.deepEqual(changes(ops), [], 'no node command on a state that cannot be trusted');
    assert.equal(me.leadership.status().state, 'degraded');
    group.corrupt = undefined;
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`]);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading, healthy', ...WAIT });
  });

  test("a follower reports the leader's live state, degraded when the leader reports none", async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    old.publishReport({
      state: 'master-lost',
      reason: 'master down for 3 s',
      masterUp: false,
      epoch: 3,
    });
    let status = me.leadership.status();
    assert.equal(status.state, 'master-lost');
    assert.match(status.reason ?? '', /leader 10\.0\.0\.8:6382 reports master-lost: master down/);
    assert.equal(status.masterUp, false);
    old.publishReport({
      state: 'degraded',
      reason: 'active replicates from another master',
      masterUp: true,
      epoch: 3,
    });
    assert.equal(me.leadership.status().state, 'degraded');
    // A new leader that has not reported yet: the previous leader's report does not stand for it.
    const other = group.join({ id: 'other', announce: '10.0.0.7:6382', http: '10.0.0.7:8080' });
    group.elect(other);
    status = me.leadership.status();
    assert.equal(status.state, 'degraded');
    assert.match(status.reason ?? '', /leader 10\.0\.0\.7:6382 has reported no state yet/);
  });

  test('the leader publishes its live state for the followers', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    await old.close();
    group.elect(me.coordination);
    me.proxy.stream(A);
    await waitFor(() => group.leaderReport()?.state === 'healthy', { what: 'reported', ...WAIT });
    assert.equal(group.leaderReport()?.epoch, 3);
    assert.equal(group.leaderReport()?.masterUp, me.leadership.status().masterUp);
  });

  test('a follower cut off from etcd names no node once its view is older than the lease; reconnected, it names the new roles', async () => {
    const clock = { ms: 1_000_000 };
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops, { now: () => clock.ms });
    me.coordination.cutOff = true;
    // The leader switches meanwhile: the follower cannot see it.
    group.state = { ...healthyState(), epoch: 4, active: B.id, standby: A.id };
    clock.ms += LEASE_MS - 1;
    assert.deepEqual(me.leadership.roles(), { active: A.id, standby: B.id }, 'still fresh');
    assert.equal(me.leadership.rolesUnknown(), undefined);
    clock.ms += 1;
    assert.equal(me.leadership.roles(), undefined, 'a lease after its last read: unknown');
    assert.equal(me.leadership.currentSwitch(), undefined);
    assert.match(
      me.leadership.rolesUnknown() ?? '',
      /view of the group is older than the lease \(last read from etcd 5\.0 s ago\).*ask another instance/,
    );
    const status = me.leadership.status();
    assert.equal(status.state, 'degraded');
    assert.match(
      status.reason ?? '',
      /older than the lease.*; etcd unreachable from this instance/,
    );
    assert.equal(status.active, null, 'status names what discovery names: nothing');
    assert.equal(status.standby, null);
    assert.equal(status.epoch, 3, 'the epoch last read');
    assert.equal(me.leadership.ready(), false);
    me.coordination.cutOff = false;
    await waitFor(() => me.leadership.roles()?.active === B.id, { what: 'the new roles', ...WAIT });
    assert.equal(me.leadership.rolesUnknown(), undefined);
    assert.equal(me.leadership.status().active, B.id);
  });

  test("a follower with a longer lease than the group's trusts its view for the group's lease only", async () => {
    const clock = { ms: 1_000_000 };
    const { group, ops } = await ledByOther();
    // This instance was given twice the group's lease (it never campaigns: its identity differs).
    group.leaseMs = LEASE_MS / 2;
    const me = await instance(group, ops, { now: () => clock.ms });
    me.coordination.cutOff = true;
    clock.ms += LEASE_MS / 2 - 1;
    assert.deepEqual(me.leadership.roles(), { active: A.id, standby: B.id }, 'still fresh');
    clock.ms += 1;
    assert.equal(me.leadership.roles(), undefined, "the group's lease after its last read");
  });

  test('a garbage state refreshes nothing: the last good view names no node after a lease', async () => {
    const clock = { ms: 1_000_000 };
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops, { now: () => clock.ms });
    group.corrupt = 'it is not valid JSON';
    await waitFor(() => /corrupt/.test(me.leadership.status().reason ?? ''), {
      what: 'read',
      ...WAIT,
    });
    clock.ms += LEASE_MS;
    assert.equal(me.leadership.roles(), undefined);
    assert.match(me.leadership.status().reason ?? '', /older than the lease.*; .*corrupt/);
  });

  test('a leader whose lease may have lapsed answers as a follower: unknown once its view is stale', async () => {
    const clock = { ms: 1_000_000 };
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops, { now: () => clock.ms });
    await old.close();
    group.elect(me.coordination);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading', ...WAIT });
    // Woken from a pause: the lease was not renewed, no read has been made since.
    me.coordination.cutOff = true;
    me.coordination.renewLate = true;
    clock.ms += LEASE_MS;
    assert.equal(me.leadership.roles(), undefined, 'not the engine roles it still holds');
    assert.equal(me.leadership.currentSwitch(), undefined);
    assert.match(me.leadership.rolesUnknown() ?? '', /older than the lease/);
    assert.equal(me.leadership.status().state, 'degraded');
    assert.equal(me.leadership.ready(), false);
    me.coordination.cutOff = false;
    me.coordination.renewLate = false;
    await waitFor(() => me.leadership.roles()?.active === A.id, { what: 'naming', ...WAIT });
  });
});
