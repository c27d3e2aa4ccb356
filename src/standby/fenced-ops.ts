// The fence between the failover engine and the replicas when several rbuddy instances share a
// group (docs/design.md, "High availability"): every command that changes a node (promote,
// attach, the write guard, CLIENT KILL, FLUSHALL) first asks whether this instance may still act,
// and is refused without being sent when it may not. Reads (INFO, CONFIG GET) always go through:
// an instance that no longer leads still observes. With one instance `mayAct` is always true.
import type { ReplicaNode } from '../nodes/replica-node.js';
import type { NodeView } from './node-view.js';
import type { SavedConfig } from './persisted-state.js';
import type { NodeControl } from './ports.js';

/** A destructive step refused because this instance does not (or no longer) lead. */
export class NotActingError extends Error {
  constructor(step: string, node?: ReplicaNode) {
    const what = node === undefined ? step : `${step} ${node.id}`;
    super(`refused to ${what}: this instance may not act (it does not lead the group)`);
    this.name = 'NotActingError';
  }
}

export function fencedControl(ops: NodeControl, mayAct: () => boolean): NodeControl {
  const check = (step: string, node: ReplicaNode): void => {
    if (!mayAct()) throw new NotActingError(step, node);
  };
  return {
    view: (node: ReplicaNode): Promise<NodeView> => ops.view(node),
    configGet: (node: ReplicaNode): Promise<SavedConfig> => ops.configGet(node),
    async guardWrites(node) {
      check('set the write guard on', node);
      await ops.guardWrites(node);
    },
    async restoreConfig(node, saved) {
      check('restore the settings of', node);
      await ops.restoreConfig(node, saved);
    },
    async detach(node) {
      check('promote (REPLICAOF NO ONE)', node);
      await ops.detach(node);
    },
    async attach(node) {
      check('attach', node);
      await ops.attach(node);
    },
    async killClients(node) {
      check('kill the clients of', node);
      await ops.killClients(node);
    },
    async flush(node) {
      check('flush', node);
      await ops.flush(node);
    },
    async makeIdleStandby(node, options) {
      check(options.flush ? 'flush' : 'make the idle standby', node);
      await ops.makeIdleStandby(node, options);
    },
  };
}
