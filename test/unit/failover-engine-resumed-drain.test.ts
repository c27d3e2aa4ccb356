// The real FailoverEngine (test/helpers/engine-harness.ts) restarted during a drain: the process
// that resumes the switch tells the app of it once (onSwitchResumed, with what the persisted
// record says), and retires the old active only a full --drain-ms after its own start, however
// long ago the switch was (docs/design.md, "Restart and reconciliation").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpochSwitch } from '../../src/standby/persisted-state.js';
import {
  A,
  B,
  diskStep,
  finishSync,
  healthyEngine,
  healthyNodes,
  healthyState,
  loseMaster,
  masterBack,
  onDisk,
  startEngine,
  stateDir,
  stopEngine,
  waitForAttached,
  waitForCompleted,
  waitForStep,
  waitTicks,
} from '../helpers/engine-harness.js';

test('a restart during the drain: the switch is told again, and the retire waits a full drain from the start', async () => {
  const dir = await stateDir(healthyState());
  const ops = healthyNodes();
  const first = await healthyEngine({ dir, ops, config: { graceMs: 30, drainMs: 600_000 } });
  loseMaster(first);
  await waitForAttached(first);
  masterBack(first);
  finishSync(first, B, 990);
  await waitForStep(dir, 'switched');
  await stopEngine(first);

  // The next process starts long after the drain counted from the switch would be over.
  const switchedAt = Date.parse(onDisk(dir).failover?.verifiedAt ?? '');
  let clock = switchedAt + 60_000;
  const told: EpochSwitch[] = [];
  const second = await startEngine({
    dir,
    ops,
    config: { drainMs: 1_000 },
    patch: (options) => ({
      ...options,
      now: () => clock,
      onSwitchResumed: (resumed) => told.push(resumed),
    }),
  });
  // A master loss: the record says unplanned, though this process saw no promotion.
  assert.deepEqual(told, [{ epoch: 4, previousActive: A.id, active: B.id, unplanned: true }]);
  assert.deepEqual(second.engine.currentSwitch(), told[0]);

  await waitTicks(second, 3);
  clock += 999;
  await waitTicks(second, 3);
  assert.equal(diskStep(dir), 'switched', 'not retired before a full drain from the start');
  assert.equal(second.engine.state, 'switching');
  assert.equal(ops.callsOf('flush').length, 0);

  clock += 1;
  const done = await waitForCompleted(dir);
  assert.equal(done.standby, A.id);
  assert.equal(ops.callsOf('flush').length, 1);
  assert.equal(told.length, 1, 'told once');
  assert.deepEqual(second.engine.currentSwitch(), told[0], 'the retired switch, as recorded');
});
