// What the failover engine does to and learns from the replicas, over the control connections
// (every command has the connection's command timeout; failures throw and the engine retries).
import { formatHostPort, type HostPort } from '../config/types.js';
import type { NodeClients } from '../nodes/node-client.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { asString } from '../nodes/replies.js';
import type { NodeView } from './node-view.js';
import type { SavedConfig } from './persisted-state.js';
import type { NodeControl } from './ports.js';

/** Settings rbuddy changes on a promoted active and an idle standby, saved before, restored after. */
const GUARDED_SETTINGS = ['min-replicas-to-write', 'min-replicas-max-lag'] as const;

/**
 * The write guard. Redis refuses a write with -NOREPLICAS only when both settings are non-zero
 * (checkGoodReplicasStatus in server.c: a max-lag of 0 turns the check off), so both are set.
 * Requiring more replicas than a node can ever have refuses every write even if something
 * replicates from it; the odd value also tells our guard apart from any operator's setting.
 */
export const WRITE_GUARD: Readonly<SavedConfig> = {
  'min-replicas-to-write': '2147483647',
  'min-replicas-max-lag': '10',
};

/** Redis's own defaults: what a node gets back when its originals were lost (see isWriteGuard). */
export const REDIS_DEFAULTS: Readonly<SavedConfig> = {
  'min-replicas-to-write': '0',
  'min-replicas-max-lag': '10',
};

/** The settings are rbuddy's write guard (so writes to a master without replicas fail). */
export function isWriteGuard(settings: SavedConfig | undefined): boolean {
  return (
    settings !== undefined &&
    GUARDED_SETTINGS.every((setting) => settings[setting] === WRITE_GUARD[setting])
  );
}

/** A CONFIG GET reply (name, value, name, value…) as a map of the guarded settings. */
export function guardedSettings(reply: unknown): SavedConfig {
  const settings: SavedConfig = {};
  if (!Array.isArray(reply)) return settings;
  const items: unknown[] = reply;
  for (let i = 0; i + 1 < items.length; i += 2) {
    const name = items[i];
    const value = items[i + 1];
    if (typeof name !== 'string' || typeof value !== 'string') continue;
    if ((GUARDED_SETTINGS as readonly string[]).includes(name)) settings[name] = value;
  }
  return settings;
}

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

/** `settings`: the node's guarded settings (CONFIG GET), unknown when it could not be read. */
export function nodeViewFromInfo(
  node: ReplicaNode,
  info: string,
  announce: HostPort,
  settings?: SavedConfig,
): NodeView {
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
    writesGuarded: isWriteGuard(settings),
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
    writesGuarded: false,
  };
}

export class NodeOps implements NodeControl {
  constructor(
    private readonly clients: NodeClients,
    private readonly announce: () => HostPort,
  ) {}

  async view(node: ReplicaNode): Promise<NodeView> {
    const client = this.clients.client(node);
    try {
      // Several INFO sections in one call (Redis ≥ 7.0); the guarded settings in the same round
      // trip. A refused CONFIG GET leaves the guard unknown, the node still in sight.
      const [info, settings] = await Promise.all([
        client
          .call('INFO', 'server', 'replication', 'persistence', 'keyspace')
          .then((reply) => asString(reply, 'INFO')),
        client.call('CONFIG', 'GET', ...GUARDED_SETTINGS).then(guardedSettings, () => undefined),
      ]);
      return nodeViewFromInfo(node, info, this.announce(), settings);
    } catch (error) {
      return unreachableView(node, error);
    }
  }

  /** The node's current values of the guarded settings (CONFIG GET takes several, Redis ≥ 7.0). */
  async configGet(node: ReplicaNode): Promise<SavedConfig> {
    return guardedSettings(
      await this.clients.client(node).call('CONFIG', 'GET', ...GUARDED_SETTINGS),
    );
  }

  /**
   * Writes to the node fail loudly (-NOREPLICAS) instead of being silently lost, while reads
   * keep working. One CONFIG SET: both settings change together or not at all.
   */
  async guardWrites(node: ReplicaNode): Promise<void> {
    await this.configSet(node, WRITE_GUARD);
  }

  async restoreConfig(node: ReplicaNode, saved: SavedConfig): Promise<void> {
    await this.configSet(node, saved);
  }

  private async configSet(node: ReplicaNode, settings: Readonly<SavedConfig>): Promise<void> {
    const pairs = Object.entries(settings).flat();
    if (pairs.length > 0) await this.clients.client(node).call('CONFIG', 'SET', ...pairs);
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
