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

describe('FailoverEngine: retire-outgoing checks the new active again before it flushes (I2)', () => {
  test('the new active restarted after decide() looked: the outgoing node is not flushed', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    // decide() as it is, except that once armed it plans the retire whatever it sees: the
    // decision taken just before the new active died.
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
    assert.equal(
      onDisk(dir).failover?.syncedRunId,
      ops.model(B.id).runId,
      'recorded at the switch',
    );

    // B restarts (a new run_id, empty) and only then does the retire run.
    Object.assign(ops.model(B.id), { runId: 'run-restarted', keys: 0, role: 'master' });
    armed = true;
    await waitFor(() => /refusing to flush/.test(h.engine.status().lastError ?? ''), {
      what: 'the retire refused',
      ...WAIT,
    });
    assert.match(h.engine.status().lastError ?? '', /restarted since it was verified synced/);
    assert.deepEqual(ops.callsOf('flush'), [], 'the outgoing node was not flushed');
    assert.ok(ops.model(A.id).keys > 0, 'it keeps its data');
  });
});
