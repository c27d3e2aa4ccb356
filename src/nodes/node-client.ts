// The proxy's control connections to the configured replicas (INFO, ROLE, REPLICAOF, CONFIG SET
// …), one per node, opened on first use. Every command has a timeout and reconnects back off, so
// an unreachable node costs a failover attempt, never a hang (I4 (docs/design.md)).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';
import { createControlClient, type ControlTls } from './control-client.js';
import type { NodeInspector } from './node-inspector.js';
import type { ReplicaNode } from './replica-node.js';
import { asArray } from './replies.js';

export interface NodeClientOptions {
  user: string;
  password: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Reconnect pacing; default NODE_RECONNECT. */
  retry?: RetryPolicy;
  /** TLS to the replicas (--replica-tls); plain without it. */
  tls?: ControlTls;
  /**
   * In a group, whether this instance may act: a command issued while it may, and written only
   * later (it waited for a connection), is written only if it still may (control-client.ts).
   */
  mayAct?: () => boolean;
  logger: Logger;
}

/**
 * Reconnects to a replica: from 200 ms, doubling, at most 1 s apart (the factory's 10 s is for
 * peers nobody waits on). Every round of the failover engine asks the nodes through these
 * connections, and a command issued while one is down waits for its next connection: after an
 * outage of 8 s, a node back empty was seen only at the next reconnect, up to 10 s later, and
 * served nils 9.4 s before rbuddy held it (chaos, the CI seed). A refused connect a second costs
 * nothing.
 */
export const NODE_RECONNECT: RetryPolicy = exponentialBackoff({ baseMs: 200, maxMs: 1_000 });

export class NodeClients implements NodeInspector {
  private readonly clients = new Map<string, Redis>();

  constructor(private readonly options: NodeClientOptions) {}

  client(node: ReplicaNode): Redis {
    let client = this.clients.get(node.id);
    if (client === undefined) {
      client = this.open(node);
      this.clients.set(node.id, client);
    }
    return client;
  }

  async role(node: ReplicaNode): Promise<unknown[]> {
    return asArray(await this.client(node).call('ROLE'), 'ROLE');
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
  }

  private open(node: ReplicaNode): Redis {
    const { options } = this;
    const log = options.logger.child({ node: `${node.host}:${node.port}` });
    return createControlClient({
      endpoint: { address: node, user: options.user, password: options.password },
      connectionName: 'rbuddy-control',
      connectTimeoutMs: options.connectTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs,
      reconnect: options.retry ?? NODE_RECONNECT,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.mayAct === undefined ? {} : { mayAct: options.mayAct }),
      onError: (error) => log.debug({ err: error }, 'control connection error'),
    });
  }
}
