// The proxy's control connections to Redis nodes (INFO, ROLE, REPLICAOF,
// CONFIG SET …). Every command has a timeout and reconnects back off (SPEC §5 I4).
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { HostPort } from '../config/types.js';
import type { NodeInspector } from './node-inspector.js';
import type { ReplicaNode } from './replica-node.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';

export interface NodeClientOptions {
  user: string;
  password: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  retry?: RetryPolicy;
  logger: Logger;
}

export function createNodeClient(address: HostPort, options: NodeClientOptions): Redis {
  const retry = options.retry ?? exponentialBackoff({ baseMs: 200, maxMs: 10_000 });
  const log = options.logger.child({ node: `${address.host}:${address.port}` });
  const client = new Redis({
    host: address.host,
    port: address.port,
    ...(options.user === '' ? {} : { username: options.user }),
    ...(options.password === '' ? {} : { password: options.password }),
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    // A command issued while disconnected waits in the offline queue, but never longer than
    // commandTimeout (ioredis arms the timer when the command is issued).
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectionName: 'rbuddy-control',
    retryStrategy: (times) => {
      const delay = retry(times - 1, undefined);
      return delay === false ? null : delay;
    },
  });
  client.on('error', (error: Error) => log.debug({ err: error }, 'control connection error'));
  return client;
}

/** Control connections to the configured replicas, opened on first use. */
export class NodeClients implements NodeInspector {
  private readonly clients = new Map<string, Redis>();

  constructor(private readonly options: NodeClientOptions) {}

  client(node: ReplicaNode): Redis {
    let client = this.clients.get(node.id);
    if (client === undefined) {
      client = createNodeClient(node, this.options);
      this.clients.set(node.id, client);
    }
    return client;
  }

  async role(node: ReplicaNode): Promise<unknown[]> {
    const reply: unknown = await this.client(node).call('ROLE');
    if (!Array.isArray(reply)) throw new Error('ROLE did not answer an array');
    return reply.map((item: unknown) => item);
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
  }
}
