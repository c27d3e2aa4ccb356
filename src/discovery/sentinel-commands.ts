// The Sentinel subset rbuddy speaks on its RESP port, so a stock Sentinel-aware client
// (ioredis `sentinels: [...]`) finds the ACTIVE replica through the proxy, plus the connection
// commands such clients send first (HELLO, CLIENT SETINFO/SETNAME) and pub/sub.
//
// Replies follow Redis Sentinel's RESP2 shapes: field/value arrays of bulk strings. Only RESP2
// is spoken: `HELLO 3` gets `-NOPROTO`, which is what Redis answers for a protocol it lacks,
// and clients fall back to RESP2.
import type { Logger } from 'pino';
import type { ClientConnection, CommandHandler } from '../proxy/client-connection.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { encodeSimple, RespError, type RespValue } from '../resp/encode.js';
import { PubSubHub } from './pubsub-hub.js';

export interface DiscoveryView {
  group: string;
  /** The master the replicas follow (through the proxy). */
  master: { host: string; port: number };
  nodes: readonly ReplicaNode[];
  /** Current roles by node id; undefined before the engine has read its state. */
  roles: () => { active: string; standby: string } | undefined;
}

/** Advertised in HELLO; Sentinel-aware clients only look at `proto`. */
const SERVER_VERSION = '7.0.0';
const NO_SUCH_MASTER = 'ERR No such master with that name';

function lower(arg: Buffer | undefined): string {
  return (arg ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
}

function wrongArgs(command: string): RespError {
  return new RespError(`ERR wrong number of arguments for '${command}' command`);
}

function activeNode(view: DiscoveryView): ReplicaNode | undefined {
  const roles = view.roles();
  return roles === undefined ? undefined : view.nodes.find((node) => node.id === roles.active);
}

/** `SENTINEL MASTER <group>` fields, pointing at the active replica. */
function masterFields(view: DiscoveryView, active: ReplicaNode): RespValue[] {
  return [
    'name', view.group,
    'ip', active.host,
    'port', String(active.port),
    'runid', '',
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
    'num-other-sentinels', '0',
    'quorum', '1',
    'failover-timeout', '180000',
    'parallel-syncs', '1',
  ]; // prettier-ignore
}

/** One `SENTINEL REPLICAS` entry: the active, flagged `slave` (clients filter out *_down flags). */
function replicaFields(view: DiscoveryView, active: ReplicaNode): RespValue[] {
  return [
    'name', `${active.host}:${active.port}`,
    'ip', active.host,
    'port', String(active.port),
    'runid', '',
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
  ]; // prettier-ignore
}

/** The SENTINEL command; pure over the view so unit tests need no socket. */
function sentinelReply(view: DiscoveryView, args: readonly Buffer[]): RespValue {
  const sub = lower(args[1]);
  const named = (): boolean => (args[2] ?? Buffer.alloc(0)).toString() === view.group;
  switch (sub) {
    case 'get-master-addr-by-name': {
      if (args.length !== 3) return wrongArgs('sentinel|get-master-addr-by-name');
      const active = activeNode(view);
      // Unknown group (or roles not known yet): null, as Sentinel answers.
      if (!named() || active === undefined) return null;
      return [active.host, String(active.port)];
    }
    case 'masters': {
      if (args.length !== 2) return wrongArgs('sentinel|masters');
      const active = activeNode(view);
      return active === undefined ? [] : [masterFields(view, active)];
    }
    case 'master': {
      if (args.length !== 3) return wrongArgs('sentinel|master');
      const active = activeNode(view);
      if (!named() || active === undefined) return new RespError(NO_SUCH_MASTER);
      return masterFields(view, active);
    }
    case 'replicas':
    case 'slaves': {
      if (args.length !== 3) return wrongArgs(`sentinel|${sub}`);
      if (!named()) return new RespError(NO_SUCH_MASTER);
      const active = activeNode(view);
      return active === undefined ? [] : [replicaFields(view, active)];
    }
    case 'sentinels': {
      if (args.length !== 3) return wrongArgs('sentinel|sentinels');
      if (!named()) return new RespError(NO_SUCH_MASTER);
      // rbuddy is the only "sentinel": clients must not go looking for others.
      return [];
    }
    case 'myid':
      return 'rbuddy';
    default:
      return new RespError(
        `ERR unknown subcommand '${(args[1] ?? Buffer.alloc(0)).toString().slice(0, 128)}'. Try SENTINEL HELP.`,
      );
  }
}

export interface DiscoveryOptions {
  view: DiscoveryView;
  hub: PubSubHub;
  logger: Logger;
}

/** Names as CLIENT SETNAME set them (keyed by connection, gone with it). */
const clientNames = new WeakMap<ClientConnection, string>();

function clientCommand(
  args: readonly Buffer[],
  connection: ClientConnection,
): RespValue | undefined {
  const sub = lower(args[1]);
  switch (sub) {
    case 'setinfo': {
      if (args.length !== 4) return wrongArgs('client|setinfo');
      const attribute = lower(args[2]);
      if (attribute !== 'lib-name' && attribute !== 'lib-ver') {
        return new RespError(`ERR Unrecognized option '${(args[2] ?? '').toString()}'`);
      }
      connection.send(encodeSimple('OK'));
      return undefined;
    }
    case 'setname': {
      if (args.length !== 3) return wrongArgs('client|setname');
      const name = (args[2] ?? Buffer.alloc(0)).toString();
      if (/[\s]/.test(name) || /[^\x21-\x7e]/.test(name)) {
        return new RespError(
          'ERR Client names cannot contain spaces, newlines or special characters.',
        );
      }
      if (name === '') clientNames.delete(connection);
      else clientNames.set(connection, name);
      connection.send(encodeSimple('OK'));
      return undefined;
    }
    case 'getname':
      if (args.length !== 2) return wrongArgs('client|getname');
      return clientNames.get(connection) ?? null;
    default:
      return new RespError(
        `ERR unknown subcommand '${(args[1] ?? Buffer.alloc(0)).toString().slice(0, 128)}'. Try CLIENT HELP.`,
      );
  }
}

function helloCommand(args: readonly Buffer[], connection: ClientConnection): RespValue {
  let index = 1;
  if (args.length > 1) {
    const version = Number((args[1] ?? Buffer.alloc(0)).toString());
    if (!Number.isInteger(version)) {
      return new RespError('ERR Protocol version is not an integer or out of range');
    }
    if (version !== 2) return new RespError('NOPROTO unsupported protocol version');
    index = 2;
  }
  for (; index < args.length; index++) {
    const option = lower(args[index]);
    if (option === 'auth' && index + 2 < args.length) {
      const refusal = connection.authWith(
        args[index + 1] ?? Buffer.alloc(0),
        args[index + 2] ?? Buffer.alloc(0),
      );
      if (refusal !== undefined) return refusal;
      index += 2;
    } else if (option === 'setname' && index + 1 < args.length) {
      clientNames.set(connection, (args[index + 1] ?? Buffer.alloc(0)).toString());
      index += 1;
    } else {
      return new RespError(`ERR Syntax error in HELLO option '${(args[index] ?? '').toString()}'`);
    }
  }
  if (!connection.isAuthenticated) {
    return new RespError(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  // RESP2: the map is a flat field/value array, as Redis sends it to a RESP2 client.
  return [
    'server', 'redis',
    'version', SERVER_VERSION,
    'proto', 2,
    'id', Number(connection.id.replace(/\D/g, '').slice(0, 15) || '0'),
    'mode', 'sentinel',
    'role', 'sentinel',
    'modules', [],
  ]; // prettier-ignore
}

/** Lower-case name → handler, for ProxyServer's `commands` option. */
export function discoveryCommands(options: DiscoveryOptions): Map<string, CommandHandler> {
  const { view, hub } = options;
  const names = (args: readonly Buffer[]): Buffer[] => args.slice(1);
  const needsName =
    (
      command: string,
      act: (connection: ClientConnection, names: Buffer[]) => void,
    ): CommandHandler =>
    (args, connection) => {
      if (args.length < 2) return wrongArgs(command);
      act(connection, names(args));
      return undefined;
    };
  return new Map<string, CommandHandler>([
    ['sentinel', (args) => (args.length < 2 ? wrongArgs('sentinel') : sentinelReply(view, args))],
    [
      'client',
      (args, connection) =>
        args.length < 2 ? wrongArgs('client') : clientCommand(args, connection),
    ],
    ['hello', (args, connection) => helloCommand(args, connection)],
    ['subscribe', needsName('subscribe', (connection, list) => hub.subscribe(connection, list))],
    ['psubscribe', needsName('psubscribe', (connection, list) => hub.psubscribe(connection, list))],
    [
      'unsubscribe',
      (args, connection) => {
        hub.unsubscribe(connection, names(args));
        return undefined;
      },
    ],
    [
      'punsubscribe',
      (args, connection) => {
        hub.punsubscribe(connection, names(args));
        return undefined;
      },
    ],
  ]);
}
