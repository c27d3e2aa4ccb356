// What rbuddy answers on its RESP port besides the replication handshake: the Sentinel subset a
// Sentinel-aware client (ioredis, node-redis, redis-py, redis-cli) uses to find the ACTIVE replica
// through the proxy, the connection and server commands they send around it, and pub/sub.
//
// Replies follow Redis Sentinel 7's formats, in RESP2 by default and in RESP3 after `HELLO 3`
// (maps, sets, verbatim strings and push messages keep their types there).
import type { Logger } from 'pino';
import type { ClientConnection, CommandHandler } from '../proxy/client-connection.js';
import { RespError } from '../resp/encode.js';
import { commandReply } from './command-table.js';
import { wrongArgs, type DiscoveryView } from './discovery-view.js';
import { PubSubHub } from './pubsub-hub.js';
import { SentinelReplies } from './sentinel-replies.js';
import { clientReply, helloReply, infoReply, roleReply } from './server-replies.js';

export { peerSentinel, sentinelId, type DiscoveryView } from './discovery-view.js';

export interface DiscoveryOptions {
  view: DiscoveryView;
  hub: PubSubHub;
  logger: Logger;
}

/** Lower-case name → handler, for ProxyServer's `commands` option. */
export function discoveryCommands(options: DiscoveryOptions): Map<string, CommandHandler> {
  const { view, hub } = options;
  const sentinel = new SentinelReplies(view);
  const names = (args: readonly Buffer[]): Buffer[] => args.slice(1);
  const needsName =
    (
      command: string,
      act: (connection: ClientConnection, names: Buffer[]) => void,
    ): CommandHandler =>
    (args, connection) => {
      if (args.length < 2) return new RespError(wrongArgs(command));
      act(connection, names(args));
      return undefined;
    };
  return new Map<string, CommandHandler>([
    ['sentinel', (args) => sentinel.reply(args)],
    ['client', (args, connection) => clientReply(args, connection, (c) => hub.counts(c))],
    ['hello', (args, connection) => helloReply(args, connection)],
    ['info', (args) => infoReply(args, view)],
    ['role', (args) => roleReply(args, view)],
    ['command', (args) => commandReply(args)],
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
