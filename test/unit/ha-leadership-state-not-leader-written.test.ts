// Leadership (src/ha/leadership.ts) on a group state that no leader wrote (docs/ha.md, "Who wrote
// the state"), with the real FailoverEngine, fake nodes and proxy, and an in-memory group whose
// store says so (`untrusted`): a follower keeps its previous view and reports it once; a new
// leader writes back the last version a leader wrote (the store's history, else its own last
// read) before its takeover, and with neither it sends no command to any node until the key is
// fixed.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { waitFor } from '../../harness/wait-for.js';
import { A, B, WAIT, healthyState } from '../helpers/engine-harness.js';
import { changes, instance, ledByOther, stopInstances } from '../helpers/leadership-instance.js';

afterEach(stopInstances);

const FORGED = 'it carries no writtenBy (written at revision 42 by hand)';

function captured(): { logger: pino.Logger; lines: Array<{ msg: string }> } {
  const lines: Array<{ msg: string }> = [];
  const logger = pino({}, { write: (line: string) => lines.push(JSON.parse(line) as never) });
  return { logger, lines };
}

describe('Leadership on a state no leader wrote', () => {
  test('a follower keeps its previous view, degraded, and says so once', async () => {
    const { group, old, ops } = await ledByOther();
    const { logger, lines } = captured();
    const me = await instance(group, ops, { logger });
    group.notLeaderWritten = FORGED;
    await waitFor(() => me.leadership.state === 'degraded', { what: 'degraded', ...WAIT });
    const status = me.leadership.status();
    assert.match(
      status.reason ?? '',
      /state in etcd \(.*\) was not written by its leader: it carries no writtenBy.*last good state read \(epoch 3\)/,
    );
    assert.equal(status.active, A.id, 'the last state a leader wrote still names the active');
    assert.deepEqual(me.leadership.roles(), { active: A.id, standby: B.id });
    await waitFor(
      () => lines.filter((line) => /not written by its leader/.test(line.msg)).length > 0,
      {
        what: 'logged',
        ...WAIT,
      },
    );
    // Many polls later (5 ms each), still logged once.
    const store = me.coordination.store;
    const load = store.load.bind(store);
    let loads = 0;
    store.load = () => {
      loads += 1;
      return load();
    };
    await waitFor(() => loads >= 10, { what: 'ten more polls', ...WAIT });
    assert.equal(lines.filter((line) => /not written by its leader/.test(line.msg)).length, 1);
    // The leader writes its own back.
    await old.store.save({ ...healthyState(), epoch: 3 });
    await waitFor(() => me.leadership.state === 'healthy', { what: 'healthy again', ...WAIT });
  });

  test("elected on it: the last version a leader wrote, from the store's history, is written back first", async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.notLeaderWritten = FORGED;
    group.leaderWritten = { ...healthyState(), epoch: 3 };
    await old.close();
    group.elect(me.coordination);
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
    const first = group.saves.find((save) => save.by === 'me');
    assert.deepEqual(first?.state, group.leaderWritten, 'written back before anything else');
    assert.deepEqual(changes(ops).sort(), [`attach ${A.id}`, `attach ${B.id}`]);
    me.proxy.stream(A);
    await waitFor(() => me.leadership.state === 'healthy', { what: 'leading, healthy', ...WAIT });
    assert.equal(me.leadership.status().epoch, 3);
  });

  test('no history: the last state it read as a follower is written back', async () => {
    const { group, old, ops } = await ledByOther();
    const me = await instance(group, ops);
    group.notLeaderWritten = FORGED;
    await old.close();
    group.elect(me.coordination);
    await waitFor(() => group.saves.some((save) => save.by === 'me'), { what: 'a save', ...WAIT });
    const first = group.saves.find((save) => save.by === 'me');
    assert.equal(first?.state.epoch, 3);
    assert.equal(first?.state.active, A.id);
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
  });

  test('nothing to go back to: no command to any node until the key is fixed', async () => {
    const { group, old, ops } = await ledByOther();
    // Put before this instance ever read the key: it has no state of a leader's to go back to.
    group.notLeaderWritten = FORGED;
    const me = await instance(group, ops);
    await old.close();
    group.elect(me.coordination);
    await waitFor(() => /refusing to act on it/.test(me.leadership.status().reason ?? ''), {
      what: 'refusing the state',
      ...WAIT,
    });
    assert.match(
      me.leadership.status().reason ?? '',
      /was not written by its leader: it carries no writtenBy/,
    );
    assert.deepEqual(changes(ops), [], 'no node command on a state no leader wrote');
    assert.ok(!group.saves.some((save) => save.by === 'me'), 'nothing written over it');
    // Fixed (a leader's state put back, say): a new term takes over on it.
    group.notLeaderWritten = undefined;
    await waitFor(() => changes(ops).length === 2, { what: 'both repointed', ...WAIT });
    assert.ok(ops.model(A.id).followsProxy && ops.model(B.id).followsProxy);
  });
});
