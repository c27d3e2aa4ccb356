// The engine's fence (src/standby/fenced-ops.ts, the `mayAct` option): an instance that does not
// lead its group (docs/design.md, "High availability") observes but changes nothing — no promote,
// no attach, no switch, no flush, no state saved — and goes on where it stood once it may act.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import {
  A,
  B,
  WAIT,
  diskStep,
  finishSync,
  healthyEngine,
  healthyNodes,
  healthyState,
  loseMaster,
  masterBack,
  onDisk,
  stateDir,
  waitForAttached,
  waitForCompleted,
  waitTicks,
  watchFlushes,
} from '../helpers/engine-harness.js';

/** Every operation that changes a node, as the fake recorded them. */
const CHANGES = [
  'guardWrites',
  'restoreConfig',
  'detach',
  'attach',
  'killClients',
  'flush',
] as const;

describe('FailoverEngine: mayAct', () => {
  test('a master loss while the instance may not act promotes nothing and saves nothing', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    let mayAct = true;
    const h = await healthyEngine({
      dir,
      ops,
      config: { graceMs: 30 },
      patch: (options) => ({ ...options, mayAct: () => mayAct }),
    });
    const before = ops.operations().length;
    mayAct = false;
    loseMaster(h);
    await waitFor(() => /may not act/.test(h.engine.status().lastError ?? ''), {
      what: 'the failover refused',
      ...WAIT,
    });
    await waitTicks(h, 3);
    const changed = ops
      .operations()
      .slice(before)
      .filter((call) => (CHANGES as readonly string[]).includes(call.op));
    assert.deepEqual(changed, [], 'no command that changes a node was sent');
    assert.equal(onDisk(dir).failover, null, 'no failover was saved');
    assert.equal(h.events.filter((event) => event.type === 'active.promoted').length, 0);

    // Allowed again (elected again): the failover goes on from the same observations.
    mayAct = true;
    await waitForAttached(h);
    assert.deepEqual(ops.callsOf('detach'), [A.id], 'promoted once allowed');
  });

  test('refused mid-failover: the synced standby is not switched to and nothing is flushed', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    let mayAct = true;
    const h = await healthyEngine({
      dir,
      ops,
      config: { graceMs: 30 },
      patch: (options) => ({ ...options, mayAct: () => mayAct }),
    });
    loseMaster(h);
    await waitForAttached(h);
    mayAct = false;
    masterBack(h);
    finishSync(h, B, 990);
    await waitTicks(h, 5);
    assert.equal(diskStep(dir), 'syncing', 'not switched');
    assert.equal(onDisk(dir).active, A.id);
    assert.deepEqual(ops.callsOf('flush'), [], 'nothing flushed');
    assert.deepEqual(ops.callsOf('killClients'), [], 'no clients killed');
    assert.match(h.engine.status().lastError ?? '', /may not act/);

    mayAct = true;
    const done = await waitForCompleted(dir);
    assert.equal(done.active, B.id);
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
  });
});
