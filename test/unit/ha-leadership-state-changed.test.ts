// Leadership when the group's state in etcd changes under the instances (docs/ha.md, "Failure
// modes"): deleted or set back under a leader, which writes its own back; followers never go back
// to an older epoch the leader does not report; a leader elected on an older state writes back the
// newer one it read, or, knowing none, adopts the roles the nodes show.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import { FakeNodeOps, heldStandbyModel, replicaModel } from '../helpers/fake-node-ops.js';
import { A, B, WAIT, healthyState } from '../helpers/engine-harness.js';
import {
  OLD_LEADER,
  changes,
  instance,
  ledByOther,
  stopInstances,
} from '../helpers/leadership-instance.js';

afterEach(stopInstances);

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

  test('elected on an older state after reading the newer one: the newer is written back, the node with the data named throughout', async () => {
    // The group switched to B (epoch 4) under the old leader; the key then set back to epoch 3
    // (etcd restored from a backup). Epochs never go back: the state this instance read stands.
    const { group, old } = await switchedGroup();
    const ops = new FakeNodeOps({
      [A.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER, runId: 'run-a' }),
      [B.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000, runId: 'run-b' }),
    });
    const me = await instance(group, ops);
    await waitFor(() => me.leadership.status().epoch === 4, { what: 'epoch 4 read', ...WAIT });
    const newer = structuredClone(group.state);
    const named: (string | undefined)[] = [];
    const watch = setInterval(() => named.push(me.leadership.roles()?.active), 1);
    try {
      group.state = healthyState(); // epoch 3: A the active
      await old.close();
      group.elect(me.coordination);
      await waitFor(() => group.state?.epoch === 4, { what: 'epoch 4 written back', ...WAIT });
      me.proxy.stream(B);
      await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy', ...WAIT });
    } finally {
      clearInterval(watch);
    }
    assert.ok(named.length > 0);
    assert.deepEqual([...new Set(named)], [B.id], 'only B, the node with the data, named');
    assert.deepEqual(group.state?.lastFailover, newer?.lastFailover, 'the switch of epoch 4 kept');
    assert.equal(group.state?.active, B.id);
    assert.ok(
      !changes(ops).some((change) => change.endsWith(B.id) && !change.startsWith('attach')),
      `B only repointed: ${changes(ops).join(', ')}`,
    );
    assert.ok(!changes(ops).includes(`detach ${A.id}`), 'A never promoted');
  });

  test('elected on an older state, none newer read: the roles the nodes show are adopted, epoch + 1', async () => {
    const { group, old } = await switchedGroup();
    group.state = healthyState(); // epoch 3, A the active, before this instance starts
    const ops = new FakeNodeOps({
      [A.id]: heldStandbyModel({ followsProxy: false, master: OLD_LEADER, runId: 'run-a' }),
      [B.id]: replicaModel({ followsProxy: false, master: OLD_LEADER, keys: 1000, runId: 'run-b' }),
    });
    const me = await instance(group, ops);
    await waitFor(() => me.leadership.status().epoch === 3, { what: 'epoch 3 read', ...WAIT });
    await old.close();
    group.elect(me.coordination);
    await waitFor(() => group.state?.epoch === 4 && group.state.active === B.id, {
      what: 'the adoption saved',
      ...WAIT,
    });
    me.proxy.stream(B);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy', ...WAIT });
    assert.equal(group.state?.lastFailover?.timeline[0]?.step, 'adopted');
    assert.ok(!changes(ops).includes(`detach ${A.id}`), 'A never promoted');
    assert.ok(!changes(ops).some((change) => change.startsWith('flush')), 'nothing flushed');
  });
});
