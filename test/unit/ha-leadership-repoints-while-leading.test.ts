// The leader keeps the group's replicas pointed at itself while it leads, not only at the start
// of its term (src/ha/repoint-round.ts; docs/ha.md, "Which replicas are repointed"): a replica
// pointed at another instance of the group (by hand, say: a follower holds its sync for ever) is
// told REPLICAOF this instance at a later poll; one pointed anywhere else is never touched; a
// past leader's address found foreign is not asked about every poll; a deposed leader sends none.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import { FakeNodeOps, heldStandbyModel, replicaModel } from '../helpers/fake-node-ops.js';
import { FakeGroup } from '../helpers/fake-coordination.js';
import { A, B, WAIT, healthyState } from '../helpers/engine-harness.js';
import {
  OLD_LEADER,
  changes,
  instance,
  ledByOther,
  stopInstances,
  type Instance,
} from '../helpers/leadership-instance.js';

afterEach(stopInstances);

/** `me` leads, healthy: the takeover done, the active streaming through it. */
async function leading(me: Instance, ops: FakeNodeOps): Promise<void> {
  await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
  me.proxy.stream(A);
  await waitFor(() => me.leadership.state === 'healthy', { what: 'leading, healthy', ...WAIT });
}

/** Someone points the active at `master` (REPLICAOF): its link to this proxy drops. */
function pointActiveAt(me: Instance, ops: FakeNodeOps, master: string): void {
  Object.assign(ops.model(A.id), { followsProxy: false, master, linkUp: false });
  me.proxy.sessionFor(A.id)?.close('replica-hangup');
}

/** Lets `rounds` more engine rounds (each views both nodes) and as many polls go by. */
async function rounds(ops: FakeNodeOps, rounds: number): Promise<void> {
  const views = ops.callsOf('view').length;
  await waitFor(() => ops.callsOf('view').length >= views + 2 * rounds, {
    what: `${rounds} more rounds`,
    ...WAIT,
  });
}

describe('Leadership: repointing while it leads', () => {
  test('the active pointed at a follower is pointed back at this instance; it continues', async () => {
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.elect(me.coordination); // the old leader stays, a follower now
    await leading(me, ops);
    assert.deepEqual(
      me.leadership.leadership().peers.map((peer) => peer.announce),
      [OLD_LEADER],
    );

    pointActiveAt(me, ops, OLD_LEADER);
    await waitFor(() => ops.callsOf('attach').filter((id) => id === A.id).length === 2, {
      what: 'the active told REPLICAOF this instance again',
      ...WAIT,
    });
    assert.equal(ops.model(A.id).followsProxy, true);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy again', ...WAIT });
    assert.deepEqual(
      changes(ops).sort(),
      [`attach ${A.id}`, `attach ${A.id}`, `attach ${B.id}`],
      'nothing else',
    );
    assert.equal(me.leadership.leadership().takeovers, 1, 'the same term');
  });

  test('the active pointed at an address that is no instance of the group: never repointed, degraded', async () => {
    const { group, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.elect(me.coordination);
    await leading(me, ops);

    pointActiveAt(me, ops, '10.0.0.7:1234');
    await waitFor(
      () => /replicates from another master/.test(me.leadership.status().reason ?? ''),
      { what: 'degraded: another master', ...WAIT },
    );
    await rounds(ops, 20);
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`], 'left alone');
    assert.equal(me.leadership.state, 'degraded');
  });

  test("a past leader's address found foreign is asked about once a term, not every poll", async () => {
    const group = new FakeGroup();
    group.state = healthyState();
    group.pastLeaders = [OLD_LEADER];
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000 }),
      [B.id]: heldStandbyModel({ runId: 'run-b' }),
    });
    let asked = 0;
    const me = await instance(group, ops, {
      checkAddress: () => {
        asked += 1;
        return Promise.resolve({ kind: 'foreign', why: 'SENTINEL myid: ERR unknown command' });
      },
    });
    group.elect(me.coordination);
    await waitFor(
      () => /replicates from another master/.test(me.leadership.status().reason ?? ''),
      { what: 'degraded: another master', ...WAIT },
    );
    await rounds(ops, 20);
    assert.equal(asked, 1);
    assert.deepEqual(ops.callsOf('attach'), []);
  });

  test('deposed: a replica of another instance is no longer this instance’s to repoint', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.elect(me.coordination);
    await leading(me, ops);
    group.elect(old);
    old.publishReport({ state: 'healthy', reason: null, masterUp: true, epoch: 3 });
    // The new leader takes the active over (as its own takeover would).
    pointActiveAt(me, ops, OLD_LEADER);
    let polls = 0;
    const load = me.coordination.store.load.bind(me.coordination.store);
    me.coordination.store.load = () => {
      polls += 1;
      return load();
    };
    await waitFor(() => polls >= 20, { what: '20 polls', ...WAIT });
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`]);
  });
});
