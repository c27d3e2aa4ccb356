// The real FailoverEngine (test/helpers/engine-harness.ts): a restarted rbuddy holds every
// replica's sync (-NOMASTERLINK; a replica retries about every second) from the moment its
// listener opens until its first round has looked at the nodes, as an HA leader does before its
// engine loads. A sync relayed in between could be answered +FULLRESYNC (a fork on the master, a
// sync the gate refuses) for a node the round would have held. Once the round is done, the
// active's sync goes through at once, on a restart as on a first start (docs/design.md, "Restart
// and reconciliation").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';
import type { NodeView } from '../../src/standby/node-view.js';
import { waitFor } from '../../harness/wait-for.js';
import { A, B, WAIT, healthyState, stateDir, unstartedEngine } from '../helpers/engine-harness.js';
import {
  FakeNodeOps,
  heldStandbyModel,
  idleMasterModel,
  replicaModel,
  type FakeNodeModel,
} from '../helpers/fake-node-ops.js';
import { FakeProxy } from '../helpers/fake-proxy.js';

/** Node models whose INFO (view) can be kept from answering, as a slow or stopped node's. */
class SlowViews extends FakeNodeOps {
  private pause: Promise<void> | undefined;
  private resume: (() => void) | undefined;
  waiting = 0;

  constructor(models: Record<string, FakeNodeModel>) {
    super(models);
  }

  stall(): void {
    this.pause = new Promise((resolve) => {
      this.resume = resolve;
    });
  }

  release(): void {
    this.pause = undefined;
    this.resume?.();
  }

  override async view(node: ReplicaNode): Promise<NodeView> {
    if (this.pause !== undefined) {
      this.waiting += 1;
      await this.pause;
    }
    return super.view(node);
  }
}

describe('FailoverEngine: every sync is held until the first round has looked at the nodes', () => {
  test('a restart with a state file: held after load(), and while the first round looks; then the active syncs', async () => {
    const ops = new SlowViews({
      [A.id]: replicaModel({ keys: 1000, runId: 'run-a', linkUp: false }),
      [B.id]: heldStandbyModel({ runId: 'run-b' }),
    });
    const engine = unstartedEngine(await stateDir(healthyState()), new FakeProxy(), ops);
    try {
      await engine.load();
      // The listeners open here (app.ts): the active retries its PSYNC about every second.
      assert.equal(engine.holdsSync(A.id), true, "the active's sync waits for the first round");
      assert.equal(engine.holdsSync(B.id), true, 'the idle standby is held anyway');

      ops.stall();
      await engine.start();
      await waitFor(() => ops.waiting > 0, { what: 'the first round looking at a node', ...WAIT });
      assert.equal(engine.holdsSync(A.id), true, 'still held while the first round looks');

      ops.release();
      await waitFor(() => engine.state === 'healthy', { what: 'the first round done', ...WAIT });
      assert.equal(engine.holdsSync(A.id), false, "the active's sync goes through");
      assert.equal(engine.holdsSync(B.id), true, 'the idle standby stays held');
    } finally {
      ops.release();
      await engine.stop();
    }
  });

  test('a first start (no state file): the configured active is attached and its sync goes through', async () => {
    const ops = new SlowViews({
      [A.id]: idleMasterModel({ runId: 'run-a' }),
      [B.id]: idleMasterModel({ runId: 'run-b' }),
    });
    const engine = unstartedEngine(await stateDir(), new FakeProxy(), ops);
    try {
      await engine.start();
      await waitFor(() => ops.callsOf('attach').includes(A.id), {
        what: 'the active attached',
        ...WAIT,
      });
      await waitFor(() => !engine.holdsSync(A.id), { what: "the active's first sync", ...WAIT });
      assert.equal(engine.state, 'starting', 'its first sync under way');
      await waitFor(() => engine.holdsSync(B.id), { what: 'the standby held', ...WAIT });
    } finally {
      await engine.stop();
    }
  });
});
