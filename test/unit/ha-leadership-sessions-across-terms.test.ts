// A relay session outlives the term it began in (src/ha/leadership.ts): a deposed leader's
// sessions may go on relaying, and when the same instance is elected again its new engine never
// hears that session begin or start streaming. It must still see it stream once the replica ACKs
// (src/standby/observe.ts takes a session first heard of mid-way as its phase says): a first
// start then completes, and a held failover can be confirmed, in the new term.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import { FakeNodeOps, heldStandbyModel, replicaModel } from '../helpers/fake-node-ops.js';
import type { FakeProxy } from '../helpers/fake-proxy.js';
import { FakeGroup } from '../helpers/fake-coordination.js';
import { A, B, WAIT, healthyState } from '../helpers/engine-harness.js';
import { instance, stopInstances, type Instance } from '../helpers/leadership-instance.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';

afterEach(stopInstances);

/** The replica ACKs on its streaming session (as Redis does every second). */
function ack(proxy: FakeProxy, node: ReplicaNode): void {
  const session = proxy.sessionFor(node.id);
  assert.equal(session?.phase, 'streaming');
  proxy.emit('session-event', session, { type: 'ack', offset: 2 });
}

/** Deposed, then elected again: a new term, a new engine, the proxy's sessions as they were. */
function electedAgain(group: FakeGroup, me: Instance): void {
  const takeovers = me.leadership.leadership().takeovers;
  group.depose('lease lost');
  assert.equal(me.leadership.leadership().leader, false);
  group.elect(me.coordination);
  assert.equal(me.leadership.leadership().takeovers, takeovers + 1);
}

describe('Leadership: sessions begun in an earlier term', () => {
  test('a first start whose active began streaming while this instance was deposed completes in the next term', async () => {
    const group = new FakeGroup();
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ followsProxy: false, keys: 0, runId: 'run-a' }),
      [B.id]: heldStandbyModel({ runId: 'run-b' }),
    });
    const me = await instance(group, ops);
    group.elect(me.coordination);
    await waitFor(() => ops.model(A.id).followsProxy && group.state?.activeHoldsData === false, {
      what: 'a first start: the active attached',
      ...WAIT,
    });
    me.proxy.connect(A); // its full sync through this proxy begins

    group.depose('lease lost');
    // The relay goes on: the snapshot is in, the stream flows, the replica ACKs — no term hears it.
    Object.assign(ops.model(A.id), { linkUp: true, keys: 1000 });
    me.proxy.stream(A);
    assert.equal(group.state?.activeHoldsData, false, 'the first start is not complete');
    group.elect(me.coordination);

    await waitFor(
      () => {
        ack(me.proxy, A);
        return me.leadership.state === 'healthy';
      },
      { what: 'the new term sees the active stream: healthy', ...WAIT },
    );
    assert.equal(group.state?.activeHoldsData, true);
  });

  test('a failover held while this instance led, deposed and elected again: the confirm is accepted', async () => {
    const group = new FakeGroup();
    group.state = healthyState();
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ keys: 1000, runId: 'run-a' }),
      [B.id]: heldStandbyModel({ runId: 'run-b' }),
    });
    const me = await instance(group, ops);
    group.elect(me.coordination);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading', ...WAIT });
    const probe = me.probes[0];
    assert.ok(probe !== undefined);
    probe.up = false;
    me.leadership.onMasterProbe(false, 'connect ECONNREFUSED');
    await waitFor(() => group.state?.failover?.step === 'syncing', { what: 'syncing', ...WAIT });
    probe.up = true;
    me.leadership.onMasterProbe(true, undefined);
    // The standby synced empty from the returning master: held for an operator.
    Object.assign(ops.model(B.id), { linkUp: true, keys: 0 });
    me.proxy.stream(B);
    await waitFor(() => group.state?.failover?.step === 'held', { what: 'held', ...WAIT });

    electedAgain(group, me);
    // Once the new term's engine names the nodes (loaded, first look taken), the standby ACKs;
    // a confirm is asked once (a refused one sends the failover back to waiting for a sync).
    await waitFor(
      () => me.leadership.state === 'held' && me.leadership.status().nodes.length === 2,
      { what: 'the new term holding the failover', ...WAIT },
    );
    ack(me.proxy, B);
    const answer = me.leadership.request('confirm');
    assert.deepEqual(answer, { accepted: true });
    await waitFor(() => group.state?.active === B.id, { what: 'switched to B', ...WAIT });
  });
});
