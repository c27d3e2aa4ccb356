// What the failover engine does to and learns from the replicas, over the control connections
// (every command has the connection's command timeout; failures throw and the engine retries).
import { formatHostPort, type HostPort } from '../config/types.js';
import type { NodeClients } from '../nodes/node-client.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { asString } from '../nodes/replies.js';
import type { NodeView } from './node-view.js';
import type { SavedConfig } from './persisted-state.js';
import type { NodeControl } from './ports.js';

/** The settings of the write guard (a promoted active, an outgoing node until it is retired). */
const GUARD_SETTINGS = ['min-replicas-to-write', 'min-replicas-max-lag'] as const;

/**
 * What makes a replica answer -MASTERDOWN while its link is down instead of its (empty or stale)
 * data: `no` on the idle standby and on a retired node (docs/design.md, "The write guard").
 */
export const STALE_DATA_SETTING = 'replica-serve-stale-data';

/** Settings rbuddy changes on a node, saved before, restored when it is the active again. */
const GUARDED_SETTINGS = [...GUARD_SETTINGS, STALE_DATA_SETTING] as const;

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
  [STALE_DATA_SETTING]: 'yes',
};

/** The write guard's settings of `saved` (the ones restored before a node takes a FLUSHALL). */
export function guardSettingsOf(saved: SavedConfig): SavedConfig {
  const settings: SavedConfig = {};
  for (const name of GUARD_SETTINGS) {
    const value = saved[name];
    if (value !== undefined) settings[name] = value;
  }
  return settings;
}

/** The settings are rbuddy's write guard (so writes to a master without replicas fail). */
export function isWriteGuard(settings: SavedConfig | undefined): boolean {
  return (
    settings !== undefined &&
    GUARD_SETTINGS.every((setting) => settings[setting] === WRITE_GUARD[setting])
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
    servesStaleData:
      settings?.[STALE_DATA_SETTING] === undefined
        ? undefined
        : settings[STALE_DATA_SETTING] !== 'no',
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
    servesStaleData: undefined,
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

  /**
   * Makes the node the idle standby in one MULTI/EXEC (docs/design.md, "The write guard"):
   * FLUSHALL ASYNC when `flush`, its own write-guard settings back, `replica-serve-stale-data
   * no`, `REPLICAOF <announce>`. rbuddy holds its sync (-NOMASTERLINK), so from the EXEC on every
   * read answers -MASTERDOWN and every write -READONLY: no client ever reads the emptied node.
   * The guard refuses FLUSHALL when it is queued and EXEC itself (`processCommand`: both are
   * writes), so with a flush the settings are also restored just before MULTI, in the same
   * write: Redis runs a client's pipelined commands in one go (`processInputBuffer`).
   * Redis does not roll back: every reply inside the EXEC is checked. When a later command
   * failed after the flush ran, the conversion is tried once more outside the transaction at
   * once, so that the node does not stay an empty master; then the failure is thrown.
   */
  async makeIdleStandby(
    node: ReplicaNode,
    options: { restore: SavedConfig; flush: boolean },
  ): Promise<void> {
    const client = this.clients.client(node);
    const announce = this.announce();
    const restore = Object.entries(guardSettingsOf(options.restore)).flat();
    const hold: string[][] = [
      ...(restore.length > 0 ? [['CONFIG', 'SET', ...restore]] : []),
      ['CONFIG', 'SET', STALE_DATA_SETTING, 'no'],
      ['REPLICAOF', announce.host, String(announce.port)],
    ];
    const transaction = [...(options.flush ? [['FLUSHALL', 'ASYNC']] : []), ...hold];
    const before = options.flush && restore.length > 0 ? [['CONFIG', 'SET', ...restore]] : [];
    // ioredis names a pipeline's commands by its (lower-case) method names.
    const commands = [...before, ['MULTI'], ...transaction, ['EXEC']].map(
      ([name = '', ...args]) => [name.toLowerCase(), ...args],
    );
    const replies = await client.pipeline(commands).exec();
    const failures = transactionFailures(replies, before.length, transaction);
    if (failures.length === 0) return;
    if (options.flush && failures.some((failure) => failure.ran)) {
      // The flush may have run: never leave an empty master behind while the error is retried.
      await client.call('CONFIG', 'SET', STALE_DATA_SETTING, 'no');
      await client.call('REPLICAOF', announce.host, String(announce.port));
    }
    throw new Error(
      `making ${node.id} the idle standby failed: ${failures.map((failure) => failure.why).join('; ')}`,
    );
  }
}

/** One command of a MULTI/EXEC that did not succeed; `ran`: the EXEC ran (no rollback). */
interface TransactionFailure {
  why: string;
  ran: boolean;
}

/**
 * The failures in a pipeline of `before` plain commands, MULTI, `transaction`, EXEC. An error
 * before or at EXEC means nothing in the transaction ran (EXECABORT); otherwise each reply inside
 * EXEC's array is checked, since Redis runs every command of a transaction even after one fails.
 */
export function transactionFailures(
  replies: [Error | null, unknown][] | null,
  before: number,
  transaction: readonly string[][],
): TransactionFailure[] {
  if (replies === null) return [{ why: 'no reply to the transaction', ran: false }];
  const failures: TransactionFailure[] = [];
  const name = (command: readonly string[] | undefined): string =>
    (command ?? []).slice(0, 2).join(' ');
  for (const [index, [error]] of replies.entries()) {
    if (error !== null && index < replies.length - 1) {
      failures.push({
        why: `${index < before ? 'before MULTI' : 'queued'}: ${error.message}`,
        ran: false,
      });
    }
  }
  const [execError, results] = replies[replies.length - 1] ?? [null, undefined];
  if (execError !== null) {
    failures.push({ why: `EXEC: ${execError.message}`, ran: false });
    return failures;
  }
  if (!Array.isArray(results) || results.length !== transaction.length) {
    return [...failures, { why: `EXEC answered ${JSON.stringify(results)}`, ran: true }];
  }
  const items: unknown[] = results;
  for (const [index, result] of items.entries()) {
    if (result instanceof Error) {
      failures.push({ why: `${name(transaction[index])}: ${result.message}`, ran: true });
    }
  }
  return failures;
}
