// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): I2 (docs/design.md) at the last moment. decide() saw the new active verified a
// moment ago, but it may die between that look and the flush: retire-outgoing views it again
// right before the transaction and refuses to flush the outgoing node if it is another process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide } from '../../src/standby/decide.js';
import {
  A,
  B,
  finishSync,
  healthyEngine,
  healthyNodes,
  healthyState,
  loseMaster,
  masterBack,
  onDisk,
  stateDir,
  WAIT,
  waitForAttached,
  waitForStep,
} from '../helpers/engine-harness.js';
import { waitFor } from '../../harness/wait-for.js';

/**
 * A failover switched to B (990 keys verified), its drain not over; once `arm()` is called,
 * decide() plans the retire whatever it sees: the decision taken just before the world changed.
 */
async function switchedToB() {
  const dir = await stateDir(healthyState());
  const ops = healthyNodes();
  let armed = false;
  const h = await healthyEngine({
    dir,
    ops,
    config: { graceMs: 30, drainMs: 600_000 },
    patch: (options) => ({
      ...options,
      decide: (persisted, obs, config) =>
        armed && persisted.failover?.step === 'switched'
          ? { state: 'healthy', reason: undefined, actions: [{ kind: 'retire-outgoing' }] }
          : decide(persisted, obs, config),
    }),
  });
  loseMaster(h);
  await waitForAttached(h);
  masterBack(h);
  finishSync(h, B, 990);
  await waitForStep(dir, 'switched');
  return { h, ops, dir, arm: () => (armed = true) };
}

async function refused(h: Awaited<ReturnType<typeof switchedToB>>['h']): Promise<string> {
  await waitFor(() => /refusing to flush/.test(h.engine.status().lastError ?? ''), {
    what: 'the retire refused',
    ...WAIT,
  });
  return h.engine.status().lastError ?? '';
}

describe('FailoverEngine: retire-outgoing checks the new active again before it flushes (I2)', () => {
  test('the new active restarted after decide() looked: the outgoing node is not flushed', async () => {
    const { h, ops, dir, arm } = await switchedToB();
    assert.equal(
      onDisk(dir).failover?.syncedRunId,
      ops.model(B.id).runId,
      'recorded at the switch',
    );

    // B restarts (a new run_id, empty) and only then does the retire run.
    Object.assign(ops.model(B.id), { runId: 'run-restarted', keys: 0, role: 'master' });
    arm();
    assert.match(await refused(h), /restarted since it was verified synced/);
    assert.deepEqual(ops.callsOf('flush'), [], 'the outgoing node was not flushed');
    assert.ok(ops.model(A.id).keys > 0, 'it keeps its data');
  });

  test('the new active holds far fewer keys than the master: not a synced copy, not flushed for it', async () => {
    const { h, ops, arm } = await switchedToB();
    // The same process, but with a tenth of the master's keys: whatever the record says (a
    // record put by hand claims what it likes), it is no copy of the master.
    Object.assign(ops.model(B.id), { keys: 100 });
    h.probe.masterKeys = 1000;
    arm();
    assert.match(await refused(h), /holds 100 keys, the master 1000: it is not a synced copy/);
    assert.deepEqual(ops.callsOf('flush'), [], 'the outgoing node was not flushed');

    // Once it holds about the master's keys (resynced), the retire goes on.
    Object.assign(ops.model(B.id), { keys: 990 });
    await waitFor(() => ops.callsOf('flush').length > 0 || ops.model(A.id).keys === 0, {
      what: 'the retire to go on',
      ...WAIT,
    });
  });
});
