// The real FailoverEngine (observe → decide → act) driven with fakes (test/helpers/engine-
// harness.ts): a decision is taken on the active as it is when the round decides, not as it was
// before a slow look at the standby. In a chaos run the standby, just restarted, took 3.5 s to
// answer INFO (its control connection reconnecting) while the active was killed: rbuddy said
// `healthy` on the active's earlier answer, and went on naming a dead, then empty, active healthy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';
import type { NodeView } from '../../src/standby/node-view.js';
import {
  A,
  B,
  healthyEngine,
  healthyNodes,
  healthyState,
  stateDir,
  WAIT,
} from '../helpers/engine-harness.js';
import { waitFor } from '../../harness/wait-for.js';

describe('FailoverEngine: the age of what a round decides on', () => {
  test('the active dies while the standby is slow to answer: not healthy', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    // The standby's views wait on `gate` while it is set.
    let gate: Promise<void> | undefined;
    let entered = false;
    const view = ops.view.bind(ops);
    ops.view = async (node: ReplicaNode): Promise<NodeView> => {
      if (node.id === B.id && gate !== undefined) {
        entered = true;
        await gate;
      }
      return view(node);
    };
    const h = await healthyEngine({ dir, ops });

    ops.model(B.id).reachable = false;
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
    let release = (): void => undefined;
    gate = new Promise((resolve) => (release = resolve));
    ops.model(B.id).reachable = true;
    await waitFor(() => entered, { what: "a round waiting on the standby's view", ...WAIT });
    ops.model(A.id).reachable = false;
    gate = undefined;
    release();

    const status = await waitFor(
      () => {
        const now = h.engine.status();
        return now.state === 'healthy' || (now.reason ?? '').includes(`active ${A.id}`)
          ? now
          : undefined;
      },
      { what: 'the round after the slow view decided', ...WAIT },
    );
    assert.equal(status.state, 'degraded');
    assert.match(status.reason ?? '', /active .* is unreachable/);
  });
});
