// A connection on the proxy's RESP port before it is anything else. Replicas run their
// handshake here (PING, AUTH, REPLCONF …, then PSYNC/SYNC, which hands the socket to a
// ReplicaSession); other clients are served the few commands the proxy speaks (SPEC §4.6, §8)
// and get `-ERR unknown command` for the rest. Malformed RESP closes only this connection.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ProtocolError } from '../errors.js';
import { sameSecret } from '../secrets.js';
import { CommandFramer } from '../resp/command-framer.js';
import { encode, encodeError, encodeSimple, RespError, type RespValue } from '../resp/encode.js';
import { REDIS_LIMITS, UNAUTHENTICATED_LIMITS } from '../resp/limits.js';
import type { ReplicaHello, SyncRequest } from './session-types.js';

/** A command the proxy serves to plain clients; returns the reply (or nothing to stay silent). */
export type CommandHandler = (
  args: readonly Buffer[],
  connection: ClientConnection,
) => RespValue | Promise<RespValue> | undefined;

export interface ClientConnectionOptions {
  socket: Socket;
  id: string;
  listenPassword: string;
  /** Per-replica users (user → password): a replica that AUTHs as one is bound to its node. */
  replicaUsers?: ReadonlyMap<string, string>;
  logger: Logger;
  /** Extra commands (discovery, pub/sub) by lower-case name. */
  commands: ReadonlyMap<string, CommandHandler>;
  /**
   * The connection asked to sync. Resolves to undefined when a session took the socket over,
   * or to the reason it was refused (the connection then gets `-ERR` and is closed).
   */
  onSyncRequest: (connection: ClientConnection, hello: ReplicaHello) => Promise<string | undefined>;
}

/** A reply the proxy itself gives: any RESP value, or a simple string like +OK. */
type Reply = RespValue | { simple: string };

const NOAUTH = 'NOAUTH Authentication required.';
const SUBSCRIBED_MODE_COMMANDS = new Set([
  'subscribe',
  'psubscribe',
  'unsubscribe',
  'punsubscribe',
  'ping',
  'quit',
]);
/** How long a connection may take from accept to its PSYNC and still count as a handshake. */
const HANDSHAKE_WINDOW_MS = 5000;
/** What a replica sends before its PSYNC/SYNC (syncWithMaster). */
const REPLICA_HANDSHAKE_COMMANDS = new Set(['ping', 'auth', 'replconf', 'psync', 'sync']);
const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

export class ClientConnection {
  readonly id: string;
  readonly socket: Socket;
  private readonly options: ClientConnectionOptions;
  private readonly log: Logger;
  private readonly framer: CommandFramer;
  private authenticated: boolean;
  /** The per-replica user this connection authenticated as, if any. */
  private replicaUser: string | undefined;
  private listeningPort: number | undefined;
  private announcedIp: string | undefined;
  private readonly capabilities: string[] = [];
  /** Replies are written in command order even when a handler is asynchronous. */
  private replyChain: Promise<void> = Promise.resolve();
  private handedOver = false;
  private readonly openedAt: number;
  /** Used a command no replica handshake sends: an application client, not a replica. */
  private servedAsClient = false;
  /**
   * Channels + patterns this client is subscribed to (set by the discovery pub/sub hub). While
   * non-zero the connection is in Redis's subscribed mode: only (P)SUBSCRIBE, (P)UNSUBSCRIBE,
   * PING and QUIT are served.
   */
  subscriptions = 0;

  constructor(options: ClientConnectionOptions) {
    this.openedAt = Date.now();
    this.options = options;
    this.id = options.id;
    this.socket = options.socket;
    this.log = options.logger.child({ connection: options.id, peer: this.peer });
    this.authenticated = options.listenPassword === '';
    // Redis keeps unauthenticated clients to tiny commands; so do we.
    this.framer = new CommandFramer(this.authenticated ? REDIS_LIMITS : UNAUTHENTICATED_LIMITS);
    this.socket.on('data', this.onData);
    this.socket.on('error', (error) => this.log.debug({ err: error }, 'client socket error'));
  }

  get peer(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? 0}`;
  }

  get isAuthenticated(): boolean {
    return this.authenticated;
  }

  /**
   * Whether this connection could be the replication handshake of a replica listening on
   * `port`: it has said nothing a replica would not say (PING, AUTH, REPLCONF) and claimed no
   * other port. Silent new connections count too: a replica's first bytes may still be in flight.
   */
  couldBeReplicaOn(port: number, now = Date.now()): boolean {
    if (this.servedAsClient || this.socket.destroyed) return false;
    // A replica's handshake reaches its PSYNC a few round trips after connecting (rbuddy answers
    // PING, AUTH and REPLCONF itself): a connection that has idled past that is not one, and
    // must not block the identification of a real replica forever.
    if (!this.handedOver && now - this.openedAt > HANDSHAKE_WINDOW_MS) return false;
    return this.listeningPort === undefined || this.listeningPort === port;
  }

  /** Writes a reply unless the socket is gone (pub/sub pushes use this too). */
  send(bytes: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  private readonly onData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = this.framer.push(chunk);
    } catch (error) {
      const message = error instanceof ProtocolError ? error.message : String(error);
      this.log.warn({ reason: message }, 'protocol error from client; closing its connection');
      this.socket.off('data', this.onData);
      this.enqueue(() => {
        this.socket.end(encodeError(`ERR Protocol error: ${message}`));
      });
      return;
    }
    for (const frame of frames) {
      if (this.handedOver) break;
      if (frame.args.length === 0) continue; // keepalive newline
      this.handle(frame.args);
    }
  };

  private handle(args: Buffer[]): void {
    const name = (args[0] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
    // HELLO may authenticate (HELLO 2 AUTH user pass), so Redis lets it through too.
    if (!this.authenticated && name !== 'auth' && name !== 'quit' && name !== 'hello') {
      this.reply(new RespError(NOAUTH));
      return;
    }
    if (this.subscriptions > 0 && !SUBSCRIBED_MODE_COMMANDS.has(name)) {
      this.reply(
        new RespError(
          `ERR Can't execute '${name.slice(0, 128)}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
        ),
      );
      return;
    }
    if (!REPLICA_HANDSHAKE_COMMANDS.has(name)) this.servedAsClient = true;
    switch (name) {
      case 'auth':
        this.reply(this.auth(args));
        return;
      case 'ping':
        if (this.subscriptions > 0) {
          // Subscribed mode: Redis answers PING as a push-shaped array, `pong` + the argument.
          this.reply(['pong', args[1] ?? '']);
          return;
        }
        this.reply(args.length > 1 && args[1] !== undefined ? args[1] : { simple: 'PONG' });
        return;
      case 'quit':
        this.enqueue(() => {
          this.socket.end(encodeSimple('OK'));
        });
        return;
      case 'replconf':
        this.reply(this.replconf(args));
        return;
      case 'psync':
      case 'sync':
        this.syncRequested(args);
        return;
    }
    const handler = this.options.commands.get(name);
    if (handler !== undefined) {
      this.enqueue(async () => {
        try {
          const value = await handler(args, this);
          if (value !== undefined) this.send(encode(value));
        } catch (error) {
          this.log.warn({ err: error, command: name }, 'command failed');
          this.send(encodeError(`ERR ${error instanceof Error ? error.message : String(error)}`));
        }
      });
      return;
    }
    this.reply(new RespError(unknownCommandMessage(args)));
  }

  /** AUTH given inside another command (HELLO … AUTH user pass): undefined when accepted. */
  authWith(user: Buffer, password: Buffer): RespError | undefined {
    const result = this.auth([Buffer.from('auth'), user, password]);
    return result instanceof RespError ? result : undefined;
  }

  private auth(args: Buffer[]): Reply {
    if (args.length < 2 || args.length > 3) {
      return new RespError("ERR wrong number of arguments for 'auth' command");
    }
    const user = args.length === 3 ? (args[1]?.toString() ?? '') : 'default';
    const given = args[args.length - 1] ?? Buffer.alloc(0);
    const replicaPassword = this.options.replicaUsers?.get(user);
    const expected = replicaPassword ?? this.options.listenPassword;
    if (expected === '') {
      return new RespError(
        'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
      );
    }
    if (!sameSecret(given, expected)) {
      // Never the password itself in a log line.
      this.log.warn({ user }, 'AUTH with a wrong password refused');
      return new RespError(WRONGPASS);
    }
    this.replicaUser = replicaPassword === undefined ? undefined : user;
    this.authenticated = true;
    this.framer.setLimits(REDIS_LIMITS);
    return { simple: 'OK' };
  }

  private replconf(args: Buffer[]): Reply {
    if (args.length % 2 === 0) return new RespError('ERR syntax error');
    for (let i = 1; i + 1 < args.length; i += 2) {
      const option = (args[i] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
      const value = (args[i + 1] ?? Buffer.alloc(0)).toString('latin1');
      switch (option) {
        case 'listening-port': {
          const port = Number(value);
          if (!Number.isInteger(port) || port < 0 || port > 65535) {
            return new RespError('ERR value is not an integer or out of range');
          }
          this.listeningPort = port;
          break;
        }
        case 'ip-address':
          this.announcedIp = value;
          break;
        case 'capa':
          this.capabilities.push(value);
          break;
        case 'rdb-only':
        case 'rdb-filter-only':
        case 'ack':
        case 'fack':
        case 'getack':
          // Accepted and ignored before a sync, as a master does for these.
          break;
        default:
          return new RespError(`ERR Unrecognized REPLCONF option: ${option}`);
      }
    }
    return { simple: 'OK' };
  }

  private syncRequested(args: Buffer[]): void {
    const name = (args[0] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
    let request: SyncRequest;
    if (name === 'psync') {
      const offset = Number(args[2]?.toString('latin1'));
      if (args.length !== 3 || !Number.isSafeInteger(offset)) {
        this.reply(new RespError("ERR wrong number of arguments for 'psync' command"));
        return;
      }
      request = { kind: 'psync', replid: args[1]?.toString('latin1') ?? '?', offset };
    } else {
      request = { kind: 'sync' };
    }
    // From here the socket belongs to the sync: stop reading commands until it is decided.
    this.handedOver = true;
    this.socket.off('data', this.onData);
    this.socket.pause();
    const hello: ReplicaHello = {
      listeningPort: this.listeningPort,
      announcedIp: this.announcedIp,
      capabilities: [...this.capabilities],
      request,
      peer: { address: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0 },
      ...(this.replicaUser === undefined ? {} : { replicaUser: this.replicaUser }),
    };
    this.enqueue(async () => {
      const refusal = await this.options.onSyncRequest(this, hello);
      if (refusal !== undefined) {
        this.log.warn({ reason: refusal }, 'sync refused: not a configured replica');
        this.socket.end(encodeError(`ERR rbuddy: not a configured replica (${refusal})`));
      }
    });
  }

  private reply(value: Reply): void {
    const bytes =
      typeof value === 'object' && value !== null && 'simple' in value
        ? encodeSimple(value.simple)
        : encode(value);
    this.enqueue(() => this.send(bytes));
  }

  private enqueue(step: () => void | Promise<void>): void {
    this.replyChain = this.replyChain.then(step).catch((error: unknown) => {
      this.log.error({ err: error }, 'client connection step failed');
      this.socket.destroy();
    });
  }
}

/** Redis 7's wording, so client libraries show a familiar message. */
export function unknownCommandMessage(args: readonly Buffer[]): string {
  const name = (args[0] ?? Buffer.alloc(0)).toString();
  let shown = '';
  for (const arg of args.slice(1)) {
    const piece = `'${arg.toString().slice(0, 128)}' `;
    if (shown.length + piece.length > 128) break;
    shown += piece;
  }
  return `ERR unknown command '${name.slice(0, 128)}', with args beginning with: ${shown}`;
}
