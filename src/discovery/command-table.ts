// COMMAND, COMMAND COUNT / INFO / DOCS / LIST for what rbuddy's RESP port serves to clients, in
// Redis 7's formats (commandCommand and addReplyCommandInfo in server.c): redis-cli and client
// libraries probe them to learn arities and flags. Only the commands rbuddy answers are listed,
// so a client never plans on one it would be refused.
import { RespAggregate, RespError, RespMap, RespSimple, type RespValue } from '../resp/encode.js';
import { wrongArgs } from './discovery-view.js';

interface CommandSpec {
  arity: number;
  flags: string[];
  categories: string[];
  summary: string;
  since: string;
  group: string;
  subcommands?: Record<string, Omit<CommandSpec, 'subcommands' | 'group' | 'since'>>;
}

const CONNECTION = ['@slow', '@connection'];
const ADMIN = ['@admin', '@slow', '@dangerous'];
const PUBSUB = ['pubsub', 'noscript', 'loading', 'stale'];
const sub = (arity: number, summary: string, flags: string[] = ['admin'], categories = ADMIN) => ({
  arity,
  flags,
  categories,
  summary,
});

const TABLE: Record<string, CommandSpec> = {
  auth: { arity: -2, flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'], categories: ['@fast', '@connection'], summary: 'Authenticate to the server', since: '1.0.0', group: 'connection' },
  client: {
    arity: -2, flags: [], categories: ['@slow'], summary: 'A container for client connection commands', since: '2.4.0', group: 'connection',
    subcommands: {
      id: sub(2, 'Returns the client ID for the current connection', ['noscript', 'loading', 'stale'], CONNECTION),
      info: sub(2, 'Returns information about the current client connection.', ['noscript', 'loading', 'stale'], CONNECTION),
      getname: sub(2, 'Get the current connection name', ['noscript', 'loading', 'stale'], CONNECTION),
      setname: sub(3, 'Set the current connection name', ['noscript', 'loading', 'stale'], CONNECTION),
      setinfo: sub(4, 'Set client or connection specific info', ['noscript', 'loading', 'stale'], CONNECTION),
    },
  },
  command: {
    arity: -1, flags: ['loading', 'stale'], categories: CONNECTION, summary: 'Get array of Redis command details', since: '2.8.13', group: 'server',
    subcommands: {
      count: sub(2, 'Get total number of Redis commands', ['loading', 'stale'], CONNECTION),
      docs: sub(-2, 'Get array of specific Redis command documentation', ['loading', 'stale'], CONNECTION),
      info: sub(-2, 'Get array of specific Redis command details, or all when no argument is given.', ['loading', 'stale'], CONNECTION),
      list: sub(-2, 'Get an array of Redis command names', ['loading', 'stale'], CONNECTION),
    },
  },
  hello: { arity: -1, flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'], categories: ['@fast', '@connection'], summary: 'Handshake with Redis', since: '6.0.0', group: 'connection' },
  info: { arity: -1, flags: ['loading', 'stale'], categories: ['@slow', '@dangerous'], summary: 'Get information and statistics about the server', since: '1.0.0', group: 'server' },
  ping: { arity: -1, flags: ['fast'], categories: ['@fast', '@connection'], summary: 'Ping the server', since: '1.0.0', group: 'connection' },
  psubscribe: { arity: -2, flags: PUBSUB, categories: ['@pubsub', '@slow'], summary: 'Listen for messages published to channels matching the given patterns', since: '2.0.0', group: 'pubsub' },
  punsubscribe: { arity: -1, flags: PUBSUB, categories: ['@pubsub', '@slow'], summary: 'Stop listening for messages posted to channels matching the given patterns', since: '2.0.0', group: 'pubsub' },
  role: { arity: 1, flags: ['noscript', 'loading', 'stale', 'fast'], categories: ['@admin', '@fast', '@dangerous'], summary: 'Return the role of the instance in the context of replication', since: '2.8.12', group: 'server' },
  sentinel: {
    arity: -2, flags: ['admin'], categories: ADMIN, summary: 'A container for Sentinel commands', since: '2.8.4', group: 'sentinel',
    subcommands: {
      ckquorum: sub(3, 'Checks for a Redis Sentinel quorum'),
      config: sub(-3, 'Configures Redis Sentinel.'),
      'get-master-addr-by-name': sub(3, 'Returns the port and address of a master Redis instance'),
      'info-cache': sub(-3, 'Returns the cached `INFO` replies from the deployment\'s instances'),
      'is-master-down-by-addr': sub(6, 'Determines whether a master Redis instance is down'),
      master: sub(3, 'Returns the state of a master Redis instance'),
      masters: sub(2, 'Returns a list of monitored Redis masters'),
      myid: sub(2, 'Returns the Redis Sentinel instance ID'),
      replicas: sub(3, 'Returns a list of the monitored Redis replicas'),
      sentinels: sub(3, 'Returns a list of Sentinel instances'),
      slaves: sub(3, 'Returns a list of the monitored replicas'),
    },
  },
  subscribe: { arity: -2, flags: PUBSUB, categories: ['@pubsub', '@slow'], summary: 'Listen for messages published to the given channels', since: '2.0.0', group: 'pubsub' },
  unsubscribe: { arity: -1, flags: PUBSUB, categories: ['@pubsub', '@slow'], summary: 'Stop listening for messages posted to the given channels', since: '2.0.0', group: 'pubsub' },
}; // prettier-ignore

function simpleSet(items: readonly string[]): RespAggregate {
  return new RespAggregate(
    'set',
    items.map((item) => new RespSimple(item)),
  );
}

/** One command's COMMAND INFO entry: name, arity, flags, key positions, ACL categories, tips … */
function infoEntry(name: string, spec: Omit<CommandSpec, 'group' | 'since'>): RespValue {
  const subcommands = Object.entries(spec.subcommands ?? {}).map(([child, childSpec]) =>
    infoEntry(`${name}|${child}`, childSpec),
  );
  return [
    name,
    spec.arity,
    simpleSet(spec.flags),
    0,
    0,
    0,
    simpleSet(spec.categories),
    new RespAggregate('set', []),
    new RespAggregate('set', []),
    // An empty set for a command without subcommands, a list otherwise, as
    // addReplyCommandSubCommands does.
    subcommands.length === 0 ? new RespAggregate('set', []) : subcommands,
  ];
}

function docsEntry(spec: Omit<CommandSpec, 'arity' | 'flags' | 'categories'>): RespMap {
  const entries: [string, RespValue][] = [
    ['summary', spec.summary],
    ['since', spec.since],
    ['group', spec.group],
  ];
  if (spec.subcommands !== undefined) {
    entries.push([
      'subcommands',
      new RespMap(
        Object.entries(spec.subcommands).map(([child, childSpec]) => [
          child,
          docsEntry({ ...childSpec, since: spec.since, group: spec.group }),
        ]),
      ),
    ]);
  }
  return new RespMap(entries);
}

const lookup = (name: Buffer | undefined): [string, CommandSpec] | undefined => {
  const key = (name ?? Buffer.alloc(0)).toString().toLowerCase();
  const spec = TABLE[key];
  return spec === undefined ? undefined : [key, spec];
};

/** The COMMAND command. */
export function commandReply(args: readonly Buffer[]): RespValue {
  const names = Object.keys(TABLE);
  if (args.length === 1) return names.map((name) => infoEntry(name, TABLE[name]));
  const subcommand = (args[1] ?? Buffer.alloc(0)).toString().toLowerCase();
  const rest = args.slice(2);
  switch (subcommand) {
    case 'count':
      return args.length === 2 ? names.length : new RespError(wrongArgs('command|count'));
    case 'list':
      return names;
    case 'info': {
      if (rest.length === 0) return names.map((name) => infoEntry(name, TABLE[name]));
      return rest.map((name) => {
        const found = lookup(name);
        return found === undefined ? null : infoEntry(found[0], found[1]);
      });
    }
    case 'docs': {
      const wanted = rest.length === 0 ? names.map((name) => Buffer.from(name)) : rest;
      const entries: [string, RespValue][] = [];
      for (const name of wanted) {
        const found = lookup(name);
        if (found !== undefined) entries.push([found[0], docsEntry(found[1])]);
      }
      return new RespMap(entries);
    }
    default:
      return new RespError(
        `ERR unknown subcommand '${(args[1] ?? Buffer.alloc(0)).toString().slice(0, 128)}'. Try COMMAND HELP.`,
      );
  }
}
