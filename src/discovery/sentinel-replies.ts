// The SENTINEL command as Redis Sentinel 7 answers it (sentinelCommand in sentinel.c), for the
// subcommands that only read: discovery (get-master-addr-by-name, masters, master, replicas,
// sentinels) and what operators and clients probe (myid, ckquorum, is-master-down-by-addr,
// info-cache, config get). rbuddy's one "master" is the ACTIVE replica; its one "replica" is the
// active too, so a client that reads from replicas (ioredis `role: 'slave'`) reads the active.
// Instance descriptions are maps (RESP3 `%`, RESP2 field/value arrays), as addReplyMapLen sends
// them. What would change Sentinel's state (monitor, set, failover, reset …) is refused.
import { NULL_ARRAY, RespError, RespMap, RespSimple, type RespValue } from '../resp/encode.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { globMatch } from './glob.js';
import { activeNode, wrongArgs, type DiscoveryView, type PeerSentinel } from './discovery-view.js';

const NO_SUCH_MASTER = 'ERR No such master with that name';
const NOT_AN_INTEGER = 'ERR value is not an integer or out of range';
const CONFIG_USAGE = 'ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.';
/** Sentinel's arity per subcommand (negative: at least), from its command table. */
const ARITY: Record<string, number> = {
  'get-master-addr-by-name': 3,
  masters: 2,
  master: 3,
  replicas: 3,
  slaves: 3,
  sentinels: 3,
  myid: 2,
  ckquorum: 3,
  'is-master-down-by-addr': 6,
  'info-cache': -3,
  config: -3,
};
/** Subcommands that change a real Sentinel's state; rbuddy's configuration is its own. */
const REFUSED = new Set([
  'monitor', 'remove', 'set', 'failover', 'reset', 'flushconfig', 'simulate-failure', 'debug',
  'pending-scripts',
]); // prettier-ignore
/** Cached node INFO lives this long: a client cannot turn INFO-CACHE into load on the active. */
const INFO_CACHE_MS = 1000;

function text(arg: Buffer | undefined): string {
  return (arg ?? Buffer.alloc(0)).toString();
}

function pairs(list: readonly string[]): RespMap {
  const entries: [string, string][] = [];
  for (let i = 0; i + 1 < list.length; i += 2) entries.push([list[i] ?? '', list[i + 1] ?? '']);
  return new RespMap(entries);
}

/** `SENTINEL MASTER <group>` fields, pointing at the active replica. */
function masterFields(view: DiscoveryView, active: ReplicaNode): RespMap {
  return pairs([
    'name', view.group,
    'ip', active.host,
    'port', String(active.port),
    'runid', view.runId?.(active) ?? '',
    'flags', 'master',
    'link-pending-commands', '0',
    'link-refcount', '1',
    'last-ping-sent', '0',
    'last-ok-ping-reply', '0',
    'last-ping-reply', '0',
    'down-after-milliseconds', '30000',
    'info-refresh', '0',
    'role-reported', 'master',
    'role-reported-time', '0',
    'config-epoch', '0',
    'num-slaves', '1',
    'num-other-sentinels', String(view.sentinels?.().length ?? 0),
    'quorum', '1',
    'failover-timeout', '180000',
    'parallel-syncs', '1',
  ]); // prettier-ignore
}

/** One `SENTINEL REPLICAS` entry: the active, flagged `slave` (clients filter out *_down flags). */
function replicaFields(view: DiscoveryView, active: ReplicaNode): RespMap {
  return pairs([
    'name', `${active.host}:${active.port}`,
    'ip', active.host,
    'port', String(active.port),
    'runid', view.runId?.(active) ?? '',
    'flags', 'slave',
    'link-pending-commands', '0',
    'link-refcount', '1',
    'last-ping-sent', '0',
    'last-ok-ping-reply', '0',
    'last-ping-reply', '0',
    'down-after-milliseconds', '30000',
    'info-refresh', '0',
    'role-reported', 'slave',
    'role-reported-time', '0',
    'master-link-down-time', '0',
    'master-link-status', 'ok',
    'master-host', view.master.host,
    'master-port', String(view.master.port),
    'slave-priority', '100',
    'slave-repl-offset', '0',
    'replica-announced', '1',
  ]); // prettier-ignore
}

/** One `SENTINEL SENTINELS` entry (addReplySentinelRedisInstance): another rbuddy instance. */
function sentinelFields(peer: PeerSentinel): RespMap {
  return pairs([
    'name', peer.runid,
    'ip', peer.host,
    'port', String(peer.port),
    'runid', peer.runid,
    'flags', 'sentinel',
    'link-pending-commands', '0',
    'link-refcount', '1',
    'last-ping-sent', '0',
    'last-ok-ping-reply', '0',
    'last-ping-reply', '0',
    'down-after-milliseconds', '30000',
    'last-hello-message', '0',
    'voted-leader', '?',
    'voted-leader-epoch', '0',
  ]); // prettier-ignore
}

/** Sentinel's own parameters (sentinelConfigGetCommand); no secret is ever shown. */
function configGet(view: DiscoveryView, pattern: Buffer): RespMap {
  const options: [string, string][] = [
    ['resolve-hostnames', 'no'],
    ['announce-hostnames', 'no'],
    ['announce-ip', view.announce?.host ?? ''],
    ['announce-port', String(view.announce?.port ?? 0)],
    ['sentinel-user', ''],
    ['sentinel-pass', ''],
  ];
  // Case-insensitive, as Sentinel matches it; every name is lower case.
  const lowered = Buffer.from(pattern.toString('latin1').toLowerCase(), 'latin1');
  return new RespMap(options.filter(([name]) => globMatch(lowered, Buffer.from(name))));
}

export class SentinelReplies {
  private readonly infoCache = new Map<string, { at: number; text: Promise<string | null> }>();

  constructor(private readonly view: DiscoveryView) {}

  /** The SENTINEL command; a promise only for INFO-CACHE, which may ask the active. */
  reply(args: readonly Buffer[]): RespValue | Promise<RespValue> {
    if (args.length < 2) return new RespError(wrongArgs('sentinel'));
    const view = this.view;
    const sub = text(args[1]).toLowerCase();
    const arity = ARITY[sub];
    if (arity !== undefined && (arity > 0 ? args.length !== arity : args.length < -arity)) {
      return new RespError(wrongArgs(`sentinel|${sub}`));
    }
    const named = (): boolean => text(args[2]) === view.group;
    const active = activeNode(view);
    switch (sub) {
      case 'get-master-addr-by-name':
        // Unknown group (or roles not known yet): a null array, as Sentinel answers.
        return !named() || active === undefined ? NULL_ARRAY : [active.host, String(active.port)];
      case 'masters':
        return active === undefined ? [] : [masterFields(view, active)];
      case 'master':
        if (!named() || active === undefined) return new RespError(NO_SUCH_MASTER);
        return masterFields(view, active);
      case 'replicas':
      case 'slaves':
        if (!named()) return new RespError(NO_SUCH_MASTER);
        return active === undefined ? [] : [replicaFields(view, active)];
      case 'sentinels':
        // The other instances of the group (none alone): a client given one of them learns the
        // rest, as Sentinel clients do (ioredis's updateSentinels), and survives its death.
        if (!named()) return new RespError(NO_SUCH_MASTER);
        return (view.sentinels?.() ?? []).map(sentinelFields);
      case 'myid':
        return view.myid ?? '';
      case 'ckquorum':
        if (!named()) return new RespError(NO_SUCH_MASTER);
        // rbuddy decides alone: its "quorum" of one is always reachable.
        return new RespSimple(
          'OK 1 usable Sentinels. Quorum and failover authorization can be reached',
        );
      case 'is-master-down-by-addr':
        return isMasterDown(args);
      case 'info-cache':
        return this.infoCacheReply(args.slice(2).map((name) => text(name)));
      case 'config':
        if (text(args[2]).toLowerCase() === 'get' && args.length === 4) {
          return configGet(view, args[3] ?? Buffer.alloc(0));
        }
        if (text(args[2]).toLowerCase() === 'set') {
          return new RespError('ERR rbuddy: its configuration is its own (flags, config file)');
        }
        return new RespError(CONFIG_USAGE);
      default:
        if (REFUSED.has(sub)) {
          return new RespError(
            `ERR rbuddy: SENTINEL ${sub.toUpperCase()} is not supported (rbuddy decides failovers itself; POST /v1/failover asks for one)`,
          );
        }
        return new RespError(
          `ERR unknown subcommand '${text(args[1]).slice(0, 128)}'. Try SENTINEL HELP.`,
        );
    }
  }

  /**
   * `name, [[age-ms, info | null], …]` per known master, flat: the master's INFO first, then
   * each replica's (sentinelInfoCacheCommand). rbuddy's master and replica are both the active.
   */
  private async infoCacheReply(names: readonly string[]): Promise<RespValue> {
    const active = activeNode(this.view);
    if (active === undefined || !names.includes(this.view.group)) return [];
    const [age, info] = await this.cachedInfo(active);
    // Nothing cached yet is a null info beside its age, as sentinelInfoCacheCommand sends it.
    const entry: RespValue = [age, info];
    return [this.view.group, [entry, entry]];
  }

  private async cachedInfo(node: ReplicaNode): Promise<[number, string | null]> {
    const now = Date.now();
    let cached = this.infoCache.get(node.id);
    if (cached === undefined || now - cached.at > INFO_CACHE_MS) {
      const fetch = this.view.nodeInfo;
      const textPromise =
        fetch === undefined ? Promise.resolve(null) : fetch(node).catch(() => null);
      cached = { at: now, text: textPromise };
      this.infoCache.set(node.id, cached);
    }
    return [Date.now() - cached.at, await cached.text];
  }
}

/**
 * `<ip> <port> <epoch> <runid>` → `[down, leader, leader-epoch]`. The active is never reported
 * down (rbuddy replaces it before clients could see it so), and rbuddy votes in no election:
 * `*` and 0, what Sentinel answers when it has not voted.
 */
function isMasterDown(args: readonly Buffer[]): RespValue {
  if (!/^-?\d+$/.test(text(args[3])) || !/^-?\d+$/.test(text(args[4]))) {
    return new RespError(NOT_AN_INTEGER);
  }
  return [0, '*', 0];
}
