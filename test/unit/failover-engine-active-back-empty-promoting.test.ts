// The real FailoverEngine (test/helpers/engine-harness.ts) with an active that restarts empty
// while an unplanned failover is at step `promoting`: before the write guard and REPLICAOF NO ONE
// (their commands failing), right before the guard lands (on the restarted process), or between
// the guard and REPLICAOF NO ONE. An empty node is never promoted (a master with no keys answers
// every read with a nil): it is held as at the other steps (-MASTERDOWN), before the standby is
// attached, and the failover goes on with the standby (docs/design.md, "Roles and states", the
// active back empty).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STALE_DATA_SETTING } from '../../src/standby/node-ops.js';
import { ACTIVE_HELD } from '../../src/standby/persisted-state.js';
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
  waitForCompleted,
  watchFlushes,
  type Harness,
} from '../helpers/engine-harness.js';
import { ORIGINAL_CONFIG, type FakeNodeOps, type OpName } from '../helpers/fake-node-ops.js';

/** What the restarted node's own config file says (not what rbuddy saved). */
const OWN_FILE = {
  'min-replicas-to-write': '0',
  'min-replicas-max-lag': '7',
  [STALE_DATA_SETTING]: 'yes',
};

/** A was killed and restarted without its dataset: an empty master, or (replicaof in its file) an empty unlinked replica of rbuddy. */
function restartEmpty(h: Harness, as: 'master' | 'replica-of-rbuddy'): void {
  h.proxy.sessionFor(A.id)?.close('replica-hangup');
  Object.assign(h.ops.model(A.id), {
    role: as === 'master' ? 'master' : 'slave',
    followsProxy: as !== 'master',
    linkUp: false,
    syncInProgress: false,
    keys: 0,
    runId: 'run-a-restarted',
    config: { ...OWN_FILE },
  });
}

/** Held as the idle standby is: a replica of rbuddy answering -MASTERDOWN. */
function isHeld(ops: FakeNodeOps): boolean {
  const model = ops.model(A.id);
  return model.role === 'slave' && model.followsProxy && model.config[STALE_DATA_SETTING] === 'no';
}

interface Landing {
  name: string;
  /** The promotion's command before which the node restarts. */
  op: OpName;
  /** The command fails (the connection reset by the restart) rather than landing on the new process. */
  fails: boolean;
  as: 'master' | 'replica-of-rbuddy';
}

const LANDINGS: Landing[] = [
  {
    name: 'before the promotion, its commands failing',
    op: 'guardWrites',
    fails: true,
    as: 'master',
  },
  {
    name: 'before the promotion, back a replica of rbuddy (replicaof in its file)',
    op: 'guardWrites',
    fails: true,
    as: 'replica-of-rbuddy',
  },
  {
    name: 'right before the write guard lands (on the new process)',
    op: 'guardWrites',
    fails: false,
    as: 'master',
  },
  {
    name: 'between the write guard and REPLICAOF NO ONE',
    op: 'detach',
    fails: false,
    as: 'replica-of-rbuddy',
  },
];

describe('FailoverEngine: an active back empty while the failover is at step promoting', () => {
  for (const landing of LANDINGS) {
    test(`restarted ${landing.name}: held, never promoted; the standby takes over`, async () => {
      const dir = await stateDir(healthyState());
      const ops = healthyNodes();
      const flushes = watchFlushes(ops, dir);
      const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
      await waitFor(() => onDisk(dir).activeRunId === 'run-a', {
        what: 'run_id recorded',
        ...WAIT,
      });

      let restarted = false;
      ops.before(landing.op, (node) => {
        if (node.id !== A.id || restarted) return;
        restarted = true;
        assert.equal(diskStep(dir), 'promoting', 'the restart lands at step promoting');
        restartEmpty(h, landing.as);
        if (landing.fails) throw new Error('read ECONNRESET');
      });
      // Whether A is held when the standby is attached, and every promotion command A takes
      // once it is back empty and held.
      const heldAtAttach: boolean[] = [];
      ops.before('attach', (node) => {
        if (node.id === B.id) heldAtAttach.push(isHeld(ops));
      });
      const afterHold: string[] = [];
      for (const op of ['guardWrites', 'detach'] as const) {
        ops.after(op, (node) => {
          if (node.id === A.id && restarted && ops.callsOf('makeIdleStandby').includes(A.id))
            afterHold.push(op);
        });
      }

      loseMaster(h);
      await waitFor(() => restarted, { what: 'the restart landing at step promoting', ...WAIT });
      await waitFor(() => isHeld(ops) && diskStep(dir) === 'syncing', {
        what: 'the empty active held and the standby syncing, before any switch',
        ...WAIT,
      });
      assert.equal(h.engine.holdsSync(A.id), true, 'its sync answered -NOMASTERLINK');
      // The node /active names answers -MASTERDOWN: not ready (/readyz 503), saying why.
      await waitFor(
        () =>
          h.engine
            .status()
            .nodes.some((view) => view.id === A.id && view.servesStaleData === false),
        {
          what: 'a round that saw the hold',
          ...WAIT,
        },
      );
      assert.equal(h.engine.ready(), false);
      assert.match(
        h.engine.notReady() ?? '',
        /active 10\.0\.0\.5:6379 came back empty and is held/,
      );
      assert.deepEqual(heldAtAttach, [true], 'held before the standby is attached, attached once');
      const record = onDisk(dir).failover;
      assert.ok(
        record?.timeline.some((entry) => entry.step === ACTIVE_HELD),
        'the hold recorded',
      );
      assert.deepEqual(record?.savedConfig, ORIGINAL_CONFIG, "A's own settings, saved before");
      assert.equal(ops.model(A.id).config['min-replicas-to-write'], '0', 'no write guard left');
      assert.equal(
        h.events.some((event) => event.type === 'active.promoted'),
        false,
        'no promotion announced: the node serves no data',
      );

      masterBack(h);
      finishSync(h, B, 1000);
      const done = await waitForCompleted(dir);
      assert.equal(done.active, B.id);
      assert.deepEqual(afterHold, [], 'never guarded nor detached once held');
      assert.deepEqual(ops.callsOf('flush'), [], 'A was empty: nothing flushed');
      assert.deepEqual(flushes, []);
      assert.ok(isHeld(ops), 'A is the held standby');
      await waitFor(() => h.engine.ready(), { what: 'ready: B serves the data', ...WAIT });
    });
  }
});
