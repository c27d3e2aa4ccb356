// A leader with no state (a group's first start, or its key lost) on nodes that another rbuddy
// manages (docs/ha.md, "`--group` and `--etcd-prefix`"; docs/design.md, "Restart and
// reconciliation"): another --group's leader has promoted the active (write guard, data) and holds
// the standby, link down, between its attempts to sync it. The elected instance adopts neither,
// sends no node a command and says whom the standby follows, every round, until the standby
// follows it (an operator's REPLICAOF): then it adopts the promoted active. Replicas of the
// group's own instances — a dead past leader, a live follower that led before — are not another
// rbuddy's: the takeover points them here, and the roles are adopted.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import { WRITE_GUARD } from '../../src/standby/node-ops.js';
import {
  FakeNodeOps,
  heldStandbyModel,
  ORIGINAL_CONFIG,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { FakeGroup } from '../helpers/fake-coordination.js';
import { A, B, WAIT } from '../helpers/engine-harness.js';
import {
  OLD_LEADER,
  changes,
  instance,
  ledByOther,
  stopInstances,
} from '../helpers/leadership-instance.js';

afterEach(stopInstances);

/** Another --group's leader on the same nodes: never registered in this group, never led it. */
const OTHER_RBUDDY = '10.0.0.7:6390';

/** Nodes as a leader at `leader` leaves them right after promoting the active. */
function promotedBy(leader: string): FakeNodeOps {
  return new FakeNodeOps({
    [A.id]: replicaModel({
      role: 'master',
      followsProxy: false,
      linkUp: false,
      keys: 1000,
      runId: 'run-a',
      config: { ...ORIGINAL_CONFIG, ...WRITE_GUARD },
    }),
    [B.id]: heldStandbyModel({ followsProxy: false, master: leader, runId: 'run-b' }),
  });
}

/** Lets `rounds` more engine rounds (each views both nodes) go by. */
async function rounds(ops: FakeNodeOps, rounds: number): Promise<void> {
  const views = ops.callsOf('view').length;
  await waitFor(() => ops.callsOf('view').length >= views + 2 * rounds, {
    what: `${rounds} more rounds`,
    ...WAIT,
  });
}

describe('Leadership: no state, nodes another rbuddy manages', () => {
  test("another rbuddy's promoted active and held standby: waits, sends nothing; the standby pointed here: adopted", async () => {
    const group = new FakeGroup();
    const ops = promotedBy(OTHER_RBUDDY);
    const me = await instance(group, ops);
    group.elect(me.coordination);
    const expected = new RegExp(
      `no state file, and node ${B.id} replicates from ${OTHER_RBUDDY} \\(link down\\), not from this rbuddy's announce address: another rbuddy .*refusing to take the roles over`,
    );
    await waitFor(() => expected.test(me.leadership.status().reason ?? ''), {
      what: 'degraded, naming the address the standby follows',
      ...WAIT,
    });
    await rounds(ops, 5);
    assert.equal(me.leadership.state, 'degraded');
    assert.match(me.leadership.status().reason ?? '', expected);
    assert.deepEqual(changes(ops), [], 'no node told anything');
    assert.deepEqual(ops.callsOf('makeIdleStandby'), []);
    assert.equal(group.state, undefined, 'nothing adopted');
    assert.deepEqual(group.saves, []);

    // An operator points the standby at this instance: settled at a following round.
    Object.assign(ops.model(B.id), { followsProxy: true });
    const settled = await waitFor(() => group.state, { what: 'the roles adopted', ...WAIT });
    assert.equal(settled.active, A.id);
    assert.equal(settled.standby, B.id);
    assert.equal(settled.failover?.step, 'aborted', 'adopted as a stopped failover');
  });

  test('a dead past leader of the group: the takeover points the standby here, the promoted active is adopted', async () => {
    const group = new FakeGroup();
    group.pastLeaders = [OLD_LEADER];
    const ops = promotedBy(OLD_LEADER);
    const me = await instance(group, ops);
    group.elect(me.coordination);
    const settled = await waitFor(() => group.state, { what: 'the roles adopted', ...WAIT });
    assert.equal(changes(ops)[0], `attach ${B.id}`, 'repointed before anything else');
    assert.equal(settled.active, A.id);
    assert.equal(settled.failover?.step, 'aborted');
    assert.equal(ops.model(B.id).followsProxy, true);
  });

  test('a live instance of the group that led before: its replicas are pointed here, then adopted', async () => {
    const { group, ops } = await ledByOther();
    group.state = undefined; // the group's key lost
    const me = await instance(group, ops);
    group.elect(me.coordination); // the old leader stays, a follower now
    const settled = await waitFor(() => group.state, { what: 'the roles adopted', ...WAIT });
    assert.deepEqual(changes(ops).slice(0, 2).sort(), [`attach ${A.id}`, `attach ${B.id}`]);
    assert.equal(settled.active, A.id, 'the node with the data');
    assert.equal(settled.standby, B.id);
    assert.equal(ops.model(A.id).followsProxy, true);
  });
});
