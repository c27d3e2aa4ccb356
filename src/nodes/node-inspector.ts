import type { ReplicaNode } from './replica-node.js';

/** The questions the matcher asks a node over its control connection. */
export interface NodeInspector {
  role(node: ReplicaNode): Promise<unknown[]>;
}
