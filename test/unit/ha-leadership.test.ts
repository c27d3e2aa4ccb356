// Leadership (src/ha/leadership.ts) with the real FailoverEngine, fake nodes and proxy, and an
// in-memory group standing in for etcd (test/helpers/fake-coordination.ts): a follower changes
// nothing and answers from the group's state; an elected instance points the replicas that follow
// the old leader at itself and runs the engine on the group's state; a deposed one stops at once.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { EventBus } from '../../src/notify/events.js';
import { Leadership } from '../../src/ha/leadership.js';
import { FailoverEngine } from '../../src/standby/engine.js';
import { waitFor } from '../../harness/wait-for.js';
import {
  FakeNodeOps,
  FAKE_ANNOUNCE,
  heldStandbyModel,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { FakeProbe, FakeProxy } from '../helpers/fake-proxy.js';
import { FakeGroup, type FakeCoordination } from '../helpers/fake-coordination.js';
import {
  A,
  B,
  BASE_CONFIG,
  MASTER,
  WAIT,
  healthyState,
  silent,
} from '../helpers/engine-harness.js';

/** The other instance of the group, the one that led before. */
const OLD_LEADER = '10.0.0.8:6382';
const CHANGES = ['guardWrites', 'restoreConfig', 'detach', 'attach', 'killClients', 'flush'];

interface Instance {
  leadership: Leadership;
  coordination: FakeCoordination;
  proxy: FakeProxy;
  probes: Array<FakeProbe & { started: boolean; stopped: boolean }>;
}

interface InstanceOptions {
  logger?: Logger;
  /** Runs after load(), before the listeners are open (start()). */
  beforeStart?: (coordination: FakeCoordination) => void;
}

const started: Leadership[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((leadership) => leadership.stop()));
});

async function instance(
  group: FakeGroup,
  ops: FakeNodeOps,
  { logger = silent, beforeStart = () => undefined }: InstanceOptions = {},
): Promise<Instance> {
  const coordination = group.join({ id: 'me', announce: FAKE_ANNOUNCE, http: '10.0.0.9:8080' });
  const proxy = new FakeProxy();
  const probes: Instance['probes'] = [];
  const leadership = new Leadership({
    coordination,
    sessions: proxy,
    nodes: [A, B],
    ops,
    pollMs: 5,
    logger,
    buildTerm: (sessions, mayAct) => {
      const probe = Object.assign(new FakeProbe(), {
        started: false,
        stopped: false,
        start() {
          probe.started = true;
        },
        stop() {
          probe.stopped = true;
        },
        reconnect: () => undefined,
      });
      probes.push(probe);
      const engine = new FailoverEngine({
        nodes: [A, B],
        initialActive: A,
        initialStandby: B,
        masterId: MASTER,
        config: { ...BASE_CONFIG, graceMs: 30 },
        store: coordination.store,
        ops,
        probe,
        sessions,
        bus: new EventBus('rbuddy', silent),
        logger: silent,
        tickMs: 5,
        retry: () => 5,
        mayAct,
      });
      return { engine, probe };
    },
  });
  started.push(leadership);
  await leadership.load();
  beforeStart(coordination);
  await leadership.start();
  return { leadership, coordination, proxy, probes };
}

/** A group led by an old leader that A (the active) and B (held) follow. */
async function ledByOther(): Promise<{
  group: FakeGroup;
  old: FakeCoordination;
  ops: FakeNodeOps;
}> {
  const group = new FakeGroup();
  group.state = healthyState();
  const old = group.join({ id: 'old', announce: OLD_LEADER, http: '10.0.0.8:8080' });
  await old.start();
  group.elect(old);
  old.publishReport({ state: 'healthy', reason: null, masterUp: true, epoch: 3 });
  const ops = new FakeNodeOps({
    [A.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000, runId: 'run-a' }),
    [B.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER, runId: 'run-b' }),
  });
  return { group, old, ops };
}

const changes = (ops: FakeNodeOps): string[] =>
  ops
    .operations()
    .filter((call) => CHANGES.includes(call.op))
    .map((call) => `${call.op} ${call.node}`);

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
    assert.equal(me.leadership.status().state, 'healthy');
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
});

describe('Leadership: the group state changed under the instances (docs/ha.md)', () => {
  /** The state after a switch: B the active at epoch 4 (the old leader reports it). */
  async function switchedGroup(): Promise<Awaited<ReturnType<typeof ledByOther>>> {
    const led = await ledByOther();
    led.group.state = { ...healthyState(), epoch: 4, active: B.id, standby: A.id };
    led.old.publishReport({ state: 'healthy', reason: null, masterUp: true, epoch: 4 });
    return led;
  }

  test('the key deleted under a leader: followers keep its last state, degraded (never healthy with no active)', async () => {
    const { group, ops } = await switchedGroup();
    const me = await instance(group, ops);
    await waitFor(() => me.leadership.status().epoch === 4, { what: 'epoch 4 read', ...WAIT });
    group.state = undefined;
    await waitFor(() => me.leadership.state === 'degraded', { what: 'degraded', ...WAIT });
    const status = me.leadership.status();
    assert.match(
      status.reason ?? '',
      /missing from etcd.*reports epoch 4.*epoch 4.*writes it back/,
    );
    assert.equal(status.active, B.id);
    assert.deepEqual(me.leadership.roles(), { active: B.id, standby: A.id });
  });

  test('an older state put back: followers do not go back to it until the leader reports it', async () => {
    const { group, old, ops } = await switchedGroup();
    const me = await instance(group, ops);
    await waitFor(() => me.leadership.status().epoch === 4, { what: 'epoch 4 read', ...WAIT });
    group.state = healthyState(); // epoch 3, A the active: A was flushed since
    await waitFor(() => me.leadership.state === 'degraded', { what: 'degraded', ...WAIT });
    assert.match(me.leadership.status().reason ?? '', /went back from epoch 4 to 3/);
    assert.deepEqual(me.leadership.roles(), { active: B.id, standby: A.id });
    assert.equal(me.leadership.status().active, B.id);
    // The leader itself reports epoch 3 (an adoption after a lost key, say): taken.
    old.publishReport({ state: 'healthy', reason: null, masterUp: true, epoch: 3 });
    await waitFor(() => me.leadership.roles()?.active === A.id, { what: 'epoch 3', ...WAIT });
  });

  test('the leader writes its state back when the key is deleted or set back under it', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    await old.close();
    group.elect(me.coordination);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading', ...WAIT });
    const own = structuredClone(group.state);
    group.state = undefined;
    await waitFor(() => group.state !== undefined, { what: 'written back', ...WAIT });
    assert.deepEqual(group.state, own);
    group.state = { ...healthyState(), epoch: 1, active: B.id, standby: A.id };
    await waitFor(() => group.state?.epoch === own?.epoch, { what: 'written back', ...WAIT });
    assert.deepEqual(group.state, own);
    assert.ok(
      group.saves.every((save) => save.by === 'me'),
      'every write by the leader, fenced',
    );
  });

  test('elected on an older state: the node with the data is named throughout, then adopted', async () => {
    // The group switched to B (epoch 4) under the old leader; the key then set back to epoch 3.
    const { group, old } = await switchedGroup();
    const ops = new FakeNodeOps({
      [A.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER, runId: 'run-a' }),
      [B.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000, runId: 'run-b' }),
    });
    const me = await instance(group, ops);
    await waitFor(() => me.leadership.status().epoch === 4, { what: 'epoch 4 read', ...WAIT });
    const named: (string | undefined)[] = [];
    const watch = setInterval(() => named.push(me.leadership.roles()?.active), 1);
    try {
      group.state = healthyState(); // epoch 3: A the active
      await old.close();
      group.elect(me.coordination);
      await waitFor(() => group.state?.epoch === 4 && group.state.active === B.id, {
        what: 'the adoption saved',
        ...WAIT,
      });
      me.proxy.stream(B);
      await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy', ...WAIT });
    } finally {
      clearInterval(watch);
    }
    assert.ok(named.length > 0);
    assert.deepEqual([...new Set(named)], [B.id], 'only B, the node with the data, named');
    assert.equal(group.state?.lastFailover?.timeline[0]?.step, 'adopted');
    assert.ok(
      !changes(ops).some((change) => change.endsWith(B.id) && !change.startsWith('attach')),
      `B only repointed: ${changes(ops).join(', ')}`,
    );
    assert.ok(!changes(ops).includes(`detach ${A.id}`), 'A never promoted');
  });
});
