// What the failover engine does to and learns from the replicas, over the control connections
// (every command has the connection's command timeout; failures throw and the engine retries).
import { formatHostPort, type HostPort } from '../config-types.js';
import type { NodeClients } from '../nodes/node-client.js';
import type { ReplicaNode } from '../proxy/session-types.js';
import type { NodeView } from './decide.js';
import type { SavedConfig } from './persisted-state.js';

/** Settings rbuddy changes on a promoted node, saved before and restored after. */
export const GUARDED_SETTINGS = ['min-replicas-to-write', 'min-replicas-max-lag'] as const;

/** Redis's own defaults for them: what is restored when a node's original values are lost. */
export const GUARDED_DEFAULTS: Record<(typeof GUARDED_SETTINGS)[number], string> = {
  'min-replicas-to-write': '0',
  'min-replicas-max-lag': '10',
};

export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** Sum of `keys=` over every `dbN:` line of INFO keyspace. */
export function countKeys(fields: Map<string, string>): number {
  let keys = 0;
  for (const [name, value] of fields) {
    if (!/^db\d+$/.test(name)) continue;
    const match = /(?:^|,)keys=(\d+)/.exec(value);
    if (match?.[1] !== undefined) keys += Number(match[1]);
  }
  return keys;
}

export function nodeViewFromInfo(node: ReplicaNode, info: string, announce: HostPort): NodeView {
  const fields = parseInfo(info);
  const role = fields.get('role');
  const masterHost = fields.get('master_host');
  const masterPort = Number(fields.get('master_port'));
  return {
    id: node.id,
    reachable: true,
    error: undefined,
    role: role === 'master' || role === 'slave' ? role : undefined,
    masterAddress:
      role === 'slave' && masterHost !== undefined
        ? formatHostPort({ host: masterHost, port: masterPort })
        : undefined,
    followsProxy:
      role === 'slave' && masterPort === announce.port && sameHost(masterHost, announce.host),
    linkUp: fields.get('master_link_status') === 'up',
    syncInProgress: fields.get('master_sync_in_progress') === '1',
    loading: fields.get('loading') === '1' || fields.get('async_loading') === '1',
    keys: countKeys(fields),
    runId: fields.get('run_id'),
    // Redis lists this field only while min-replicas-to-write and min-replicas-max-lag are both
    // non-zero (genRedisInfoString in server.c).
    writeGuarded: role === 'master' && fields.has('min_slaves_good_slaves'),
  };
}

function sameHost(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const strip = (host: string): string => host.replace(/^\[|\]$/g, '').toLowerCase();
  return strip(a) === strip(b);
}

export function unreachableView(node: ReplicaNode, error: unknown): NodeView {
  return {
    id: node.id,
    reachable: false,
    error: error instanceof Error ? error.message : String(error),
    role: undefined,
    masterAddress: undefined,
    followsProxy: false,
    linkUp: false,
    syncInProgress: false,
    loading: false,
    keys: 0,
    runId: undefined,
    writeGuarded: false,
  };
}

export class NodeOps {
  constructor(
    private readonly clients: NodeClients,
    private readonly announce: () => HostPort,
  ) {}

  async view(node: ReplicaNode): Promise<NodeView> {
    try {
      // Several INFO sections in one call (Redis ≥ 7.0).
      const info = (await this.clients
        .client(node)
        .call('INFO', 'server', 'replication', 'persistence', 'keyspace')) as string;
      return nodeViewFromInfo(node, info, this.announce());
    } catch (error) {
      return unreachableView(node, error);
    }
  }

  async configGet(node: ReplicaNode): Promise<SavedConfig> {
    const saved: SavedConfig = {};
    for (const setting of GUARDED_SETTINGS) {
      const reply = (await this.clients.client(node).call('CONFIG', 'GET', setting)) as string[];
      const value = reply[1];
      if (value !== undefined) saved[setting] = value;
    }
    return saved;
  }

  /**
   * Writes to a promoted node fail loudly (-NOREPLICAS) instead of being silently lost: it has
   * no replicas, so requiring one refuses every write while reads keep working.
   */
  async guardWrites(node: ReplicaNode): Promise<void> {
    await this.clients.client(node).call('CONFIG', 'SET', 'min-replicas-to-write', '1');
  }

  async restoreConfig(node: ReplicaNode, saved: SavedConfig): Promise<void> {
    for (const [setting, value] of Object.entries(saved)) {
      await this.clients.client(node).call('CONFIG', 'SET', setting, value);
    }
  }

  async detach(node: ReplicaNode): Promise<void> {
    await this.clients.client(node).call('REPLICAOF', 'NO', 'ONE');
  }

  async attach(node: ReplicaNode): Promise<void> {
    const announce = this.announce();
    await this.clients.client(node).call('REPLICAOF', announce.host, String(announce.port));
  }

  /** Clients reconnect elsewhere (SKIPME defaults to yes: our control connection stays). */
  async killClients(node: ReplicaNode): Promise<void> {
    const client = this.clients.client(node);
    await client.call('CLIENT', 'KILL', 'TYPE', 'normal');
    await client.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  }

  async flush(node: ReplicaNode): Promise<void> {
    await this.clients.client(node).call('FLUSHALL', 'ASYNC');
  }
}
