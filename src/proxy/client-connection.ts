// A connection on the proxy's RESP port before it is anything else. Replicas run their handshake
// here (PING, AUTH, REPLCONF …, then PSYNC/SYNC, which hands the socket to a ReplicaSession); other
// clients are served the few commands the proxy speaks (discovery, PING, AUTH, pub/sub) and get
// `-ERR unknown command` for the rest. Malformed RESP closes only this connection.
//
// Every connection is bounded (docs/design.md, "Limits and trust"): its input is read one read at a
// time, and the next is read only once the replies to the last are written and drained, so a client
// that never reads stops being read (what it costs is one read's worth of replies); its output, its
// incomplete command and its count of commands before AUTH have ceilings; it has a deadline to
// authenticate or say something valid; and wrong passwords wait longer and longer (ClientAuth,
// AuthThrottle).
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ProtocolError } from '../errors.js';
import { CommandFramer, type CommandFrame } from '../resp/command-framer.js';
import { encode, encodeError, encodeSimple, RespError } from '../resp/encode.js';
import type { Protocol, RespValue } from '../resp/encode.js';
import {
  CLIENT_LIMITS,
  CLIENT_MAX_QUERY_BYTES,
  CLIENT_OUTPUT_LIMIT,
  UNAUTHENTICATED_LIMITS,
  UNAUTHENTICATED_MAX_COMMANDS,
} from '../resp/limits.js';
import type { AuthThrottle } from './auth-throttle.js';
import { ClientAuth } from './client-auth.js';
import type { InputBudget } from './input-budget.js';
import type { WarnThrottle } from '../log-throttle.js';
import { endLingering } from '../lingering-close.js';
import { normalizeIp } from '../addresses.js';
import { ReplyQueue, type ReplyStep } from './reply-queue.js';
import { ReadPacer } from './read-pacing.js';
import type { PresentedCertificate, ReplicaHello } from './session-types.js';
import {
  inHandshakeWindow,
  parseSyncRequest,
  REPLICA_HANDSHAKE_COMMANDS,
  ReplicaClaim,
  type RivalRules,
} from './replica-claim.js';
import {
  BUILTIN_COMMANDS,
  type ClientConnectionStats,
  type ClientLimitReason,
  encodeReply,
  NOAUTH,
  subscribedModeMessage,
  SUBSCRIBED_MODE_COMMANDS,
  unknownCommandMessage,
  type Reply,
} from './client-commands.js';

/** A command the proxy serves to plain clients; returns the reply (or nothing to stay silent). */
export type CommandHandler = (
  args: readonly Buffer[],
  connection: ClientConnection,
) => RespValue | Promise<RespValue> | undefined;

/**
 * What a connection needs of its socket: a net.Socket in the server, any Duplex in unit tests
 * (which drive the pause/resume logic without a network).
 */
export type ClientSocket = Duplex & {
  /** net.Socket's; a Duplex without it is never taken for silent. */
  readonly bytesRead?: number;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
};

export interface ClientConnectionOptions {
  socket: ClientSocket;
  id: string;
  listenPassword: string;
  /** Shared: warnings a peer can repeat at will are logged once per kind and interval. */
  warnings?: WarnThrottle;
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
  /**
   * Time to authenticate (when a password is set) or else to send a first valid command; the
   * connection is closed at the deadline. Undefined: no deadline (unit tests of other things).
   */
  authTimeoutMs?: number | undefined;
  /** Shared by every connection of the listener: AUTH failures are counted per peer IP. */
  authThrottle?: AuthThrottle | undefined;
  /** Bytes of unsent replies past which a (not subscribed) client is closed. */
  outputLimitBytes?: number | undefined;
  /** Shared by the listeners' connections (input-budget.ts): incomplete commands, unread replies. */
  inputBudget?: InputBudget<ClientConnection> | undefined;
  outputBudget?: InputBudget<ClientConnection> | undefined;
  /** Told when the connection closes one of its own for breaking a limit (status, metrics). */
  onLimit?: ((reason: ClientLimitReason) => void) | undefined;
  /** The client certificate the TLS listener verified (none on the plain listener). */
  certificate?: PresentedCertificate | undefined;
}

export type { ClientConnectionStats, ClientLimitReason } from './client-commands.js';

export class ClientConnection {
  readonly id: string;
  readonly socket: ClientSocket;
  private readonly options: ClientConnectionOptions;
  private readonly log: Logger;
  private readonly framer: CommandFramer;
  private readonly credentials: ClientAuth;
  /** What it said about itself as a replica (REPLCONF). */
  private readonly claim = new ReplicaClaim();
  private readonly replies: ReplyQueue;
  private handedOver = false;
  /** Date.now() at accept (CLIENT INFO's age). */
  readonly openedAt: number;
  /** Used a command no replica handshake sends: an application client, not a replica. */
  private servedAsClient = false;
  /** Closing: replies are over, input is discarded. */
  private closing = false;
  private readonly pacer: ReadPacer;
  /** Running until the client authenticates (or, without a password, says something valid). */
  private authTimer: NodeJS.Timeout | undefined;
  private unauthenticatedCommands = 0;
  private readonly outputLimit: number;
  /**
   * Channels + patterns this client is subscribed to (set by the discovery pub/sub hub). While
   * non-zero the connection is in Redis's subscribed mode: only (P)SUBSCRIBE, (P)UNSUBSCRIBE,
   * PING and QUIT are served (RESP2 only: a RESP3 client gets pushes beside its replies).
   */
  subscriptions = 0;
  /** Set by `HELLO 3` / `HELLO 2`; every reply after it is encoded in this protocol. */
  protocol: Protocol = 2;

  constructor(options: ClientConnectionOptions) {
    this.openedAt = Date.now();
    this.options = options;
    this.id = options.id;
    this.socket = options.socket;
    this.log = options.logger.child({ connection: options.id, peer: this.peer });
    this.replies = new ReplyQueue((error) => {
      this.log.error({ err: error }, 'client connection step failed');
      this.socket.destroy();
    });
    this.pacer = new ReadPacer(this.socket, this.replies, () => this.handedOver || this.closing);
    this.credentials = new ClientAuth({
      listenPassword: options.listenPassword,
      replicaUsers: options.replicaUsers,
      authThrottle: options.authThrottle,
      peerIp: this.socket.remoteAddress ?? '',
    });
    this.outputLimit = options.outputLimitBytes ?? CLIENT_OUTPUT_LIMIT;
    // Redis keeps unauthenticated clients to tiny commands; so do we.
    this.framer = new CommandFramer(
      this.credentials.authenticated ? CLIENT_LIMITS : UNAUTHENTICATED_LIMITS,
    );
    this.socket.on('data', this.onData);
    this.socket.on('error', (error) => this.log.debug({ err: error }, 'client socket error'));
    this.socket.once('close', () => {
      this.stopAuthTimer();
      this.dropInput();
    });
    this.socket.on('drain', () => this.options.outputBudget?.release(this)); // all taken
    const timeoutMs = options.authTimeoutMs;
    if (timeoutMs !== undefined) {
      this.authTimer = setTimeout(() => {
        this.authTimer = undefined;
        const what = this.credentials.authenticated ? 'a valid command' : 'AUTH';
        this.closeForLimit(
          'auth-timeout',
          `ERR rbuddy: no ${what} within ${timeoutMs} ms of connecting (--auth-timeout-ms); closing the connection`,
        );
      }, timeoutMs);
    }
  }

  get peer(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? 0}`;
  }

  get isAuthenticated(): boolean {
    return this.credentials.authenticated;
  }

  /**
   * Whether this connection could be the replication handshake of a replica listening on
   * `port`: it has said nothing a replica would not say (PING, AUTH, REPLCONF) and claimed no
   * other port. Silent new connections count too: a replica's first bytes may still be in flight.
   */
  couldBeReplicaOn(port: number, rival: RivalRules = {}, now = Date.now()): boolean {
    // Silent or open too long, it is no handshake and must not hold a real replica's back.
    const past = !this.handedOver && !inHandshakeWindow(now - this.openedAt, this.socket.bytesRead);
    if (this.servedAsClient || this.socket.destroyed || past) return false;
    if (!this.claim.mayBeOnPort(port)) return false;
    const names = this.options.certificate?.names;
    if (names !== undefined && rival.certificateMatches?.(names) === false) return false;
    // What a stranger cannot fake narrows the field, so that strangers' claims cannot keep a
    // real replica from being recognised: its own user (a claim of that node needs it), its
    // address. Not the listen password: the real replica's connection is unauthenticated from
    // its connect to its AUTH while the node already says `handshake`, and a stranger who knows
    // the password (any discovery client must) would be confirmed in that window.
    if (rival.boundUser !== undefined) return this.credentials.replicaUser === rival.boundUser;
    if (rival.fromAddresses !== undefined) {
      return rival.fromAddresses.has(normalizeIp(this.socket.remoteAddress ?? ''));
    }
    return true;
  }

  private warn(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.options.warnings === undefined) this.log.warn(fields, message);
    else this.options.warnings.warn(this.log, key, fields, message);
  }

  stats(): ClientConnectionStats {
    return {
      outputBytes: this.socket.writableLength,
      inputBytes: this.framer.buffered,
      paused: this.pacer.paused,
      awaitingAuth: this.authTimer !== undefined,
    };
  }

  /**
   * Writes a reply unless the socket is gone (pub/sub pushes use this too). A client whose unsent
   * output passes its limit, or the output budget all clients share (input-budget.ts; the
   * connections holding the most go first), is closed at once, as Redis does past
   * client-output-buffer-limit: no reply could reach it anyway. A subscribed client is the pub/sub
   * hub's to limit: Redis's limits go by client class.
   */
  send(bytes: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(bytes);
    if (this.subscriptions > 0) return;
    const queued = this.socket.writableLength;
    if (queued > this.outputLimit) return this.dropUnread('output-limit', this.outputLimit);
    const budget = this.options.outputBudget;
    for (const holder of budget?.hold(this, queued) ?? []) {
      holder.dropUnread('output-budget', budget?.limitBytes ?? 0);
    }
  }

  private dropUnread(reason: 'output-limit' | 'output-budget', limitBytes: number): void {
    const fields = { queuedBytes: this.socket.writableLength, limitBytes };
    this.warn(reason, fields, `client is not reading its replies: over the ${reason}, closing it`);
    this.options.onLimit?.(reason);
    this.closing = true;
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = this.framer.push(chunk);
      if (this.framer.buffered > CLIENT_MAX_QUERY_BYTES) {
        this.options.onLimit?.('query-limit');
        throw new ProtocolError(
          `request over rbuddy's query buffer limit of ${CLIENT_MAX_QUERY_BYTES} bytes`,
        );
      }
    } catch (error) {
      const message = error instanceof ProtocolError ? error.message : String(error);
      this.warn(
        'protocol-error',
        { reason: message },
        'protocol error from client; closing its connection',
      );
      this.close(`ERR Protocol error: ${message}`);
      return;
    }
    this.holdInput();
    // The replies to one read leave in one write, not one system call per PONG.
    this.socket.cork();
    try {
      this.handleFrames(frames, 0);
    } finally {
      this.socket.uncork();
    }
    // One read at a time: the next is read once these replies are written and drained.
    this.pacer.afterRead();
  };

  private handleFrames(frames: readonly CommandFrame[], from: number): void {
    for (let i = from; i < frames.length; i++) {
      if (this.handedOver || this.closing) return;
      const args = frames[i]?.args ?? [];
      if (args.length === 0) continue; // keepalive newline
      const name = this.handle(args);
      // AUTH (or HELLO … AUTH) that waits: the commands pipelined after it are judged by its
      // outcome, so they wait for it too (a replica pipelines AUTH with its REPLCONFs).
      if ((name === 'auth' || name === 'hello') && !this.replies.idle) {
        this.enqueue(() => this.handleFrames(frames, i + 1));
        return;
      }
    }
  }

  /** Ends the connection with an error reply after the replies already queued. */
  close(message: string): void {
    if (this.closing) return;
    this.closing = true;
    this.stopAuthTimer();
    this.socket.off('data', this.onData);
    this.dropInput();
    this.enqueue(() => {
      if (this.socket.destroyed) return;
      // Replies it has not read yet mean it will not read this one soon either.
      if (this.socket.writableNeedDrain) this.socket.destroy();
      else endLingering(this.socket, encodeError(message));
    });
  }

  private closeForLimit(reason: ClientLimitReason, message: string): void {
    if (this.closing) return;
    this.warn(`limit:${reason}`, { reason }, `closing client connection: ${message}`);
    this.options.onLimit?.(reason);
    this.close(message);
  }

  /**
   * Tells the shared budget what this connection holds now; past it, the connections holding the
   * most are closed (maybe this one), each with an error naming the limit.
   */
  private holdInput(): void {
    const budget = this.options.inputBudget;
    if (budget === undefined) return;
    for (const holder of budget.hold(this, this.framer.buffered)) {
      holder.closeForLimit(
        'input-budget',
        `ERR rbuddy: the clients' incomplete commands passed the input budget of ${budget.limitBytes} bytes; closing the connection holding the most`,
      );
    }
  }

  /** Closed or handed over: its incomplete command and its budgets are let go. */
  private dropInput(): void {
    this.framer.discard();
    this.options.inputBudget?.release(this);
    this.options.outputBudget?.release(this);
  }

  private stopAuthTimer(): void {
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }

  /** Serves one command; returns its lower-case name. */
  private handle(args: Buffer[]): string {
    const name = (args[0] ?? Buffer.alloc(0)).toString('latin1').toLowerCase();
    if (!this.credentials.authenticated && name !== 'auth') {
      this.unauthenticatedCommands += 1;
      if (this.unauthenticatedCommands > UNAUTHENTICATED_MAX_COMMANDS) {
        this.closeForLimit(
          'unauthenticated-commands',
          `NOAUTH Authentication required: ${UNAUTHENTICATED_MAX_COMMANDS} commands without AUTH; closing the connection`,
        );
        return name;
      }
    }
    // HELLO may authenticate (HELLO 2 AUTH user pass), so Redis lets it through too.
    if (!this.credentials.authenticated && name !== 'auth' && name !== 'quit' && name !== 'hello') {
      this.reply(new RespError(NOAUTH));
      return name;
    }
    const handler = this.options.commands.get(name);
    const known = handler !== undefined || BUILTIN_COMMANDS.has(name);
    // As processCommand: a command this port does not know is unknown, subscribed or not.
    const subscribedMode = this.subscriptions > 0 && this.protocol === 2;
    if (subscribedMode && known && !SUBSCRIBED_MODE_COMMANDS.has(name)) {
      this.reply(new RespError(subscribedModeMessage(name, args[1])));
      return name;
    }
    if (!REPLICA_HANDSHAKE_COMMANDS.has(name)) this.servedAsClient = true;
    if (known) this.identified();
    switch (name) {
      case 'auth': {
        const delay = this.credentials.delayMs();
        const answer = (): void => {
          // A wrong password before this one may have closed the connection: no more guesses.
          if (!this.closing) this.send(encodeReply(this.auth(args), this.protocol));
        };
        this.enqueue(delay === 0 ? answer : () => sleep(delay).then(answer));
        return name;
      }
      case 'ping':
        if (subscribedMode) {
          // Subscribed mode: Redis answers PING as a push-shaped array, `pong` + the argument.
          this.reply(['pong', args[1] ?? '']);
          return name;
        }
        this.reply(args.length > 1 && args[1] !== undefined ? args[1] : { simple: 'PONG' });
        return name;
      case 'quit':
        this.enqueue(() => {
          this.socket.end(encodeSimple('OK'));
        });
        return name;
      case 'replconf':
        this.reply(this.claim.replconf(args) ?? { simple: 'OK' });
        return name;
      case 'psync':
      case 'sync':
        this.syncRequested(args);
        return name;
    }
    if (handler !== undefined) {
      this.enqueue(async () => {
        try {
          // HELLO may carry AUTH: it waits like AUTH does.
          const delay = name === 'hello' ? this.credentials.delayMs() : 0;
          if (delay > 0) await sleep(delay);
          const value = await handler(args, this);
          if (value !== undefined) this.send(encode(value, this.protocol));
        } catch (error) {
          this.log.warn({ err: error, command: name }, 'command failed');
          this.send(encodeError(`ERR ${error instanceof Error ? error.message : String(error)}`));
        }
      });
      return name;
    }
    this.reply(new RespError(unknownCommandMessage(args)));
    return name;
  }

  /** AUTH given inside another command (HELLO … AUTH user pass): undefined when accepted. */
  authWith(user: Buffer, password: Buffer): RespError | undefined {
    const result = this.auth([Buffer.from('auth'), user, password]);
    return result instanceof RespError ? result : undefined;
  }

  private auth(args: Buffer[]): Reply {
    const refusal = this.credentials.check(args);
    const wrong = refusal?.wrongPassword;
    if (wrong !== undefined) {
      // Never the password itself in a log line.
      const { user, failures, fromPeer } = wrong;
      this.warn('auth-failed', { user, failures, fromPeer }, 'AUTH with a wrong password refused');
      if (wrong.tooMany) {
        // Queued after the -WRONGPASS this returns.
        this.closeForLimit(
          'auth-failures',
          `ERR rbuddy: ${failures} wrong passwords on this connection; closing it`,
        );
      }
    }
    if (refusal !== undefined) return refusal.reply;
    this.framer.setLimits(CLIENT_LIMITS);
    this.stopAuthTimer();
    return { simple: 'OK' };
  }

  /** A valid command: without a password, that is all the auth deadline waits for. */
  private identified(): void {
    if (this.credentials.authenticated) this.stopAuthTimer();
  }

  private syncRequested(args: Buffer[]): void {
    const request = parseSyncRequest(args);
    if (request instanceof RespError) {
      this.reply(request);
      return;
    }
    // From here the socket belongs to the sync: stop reading commands until it is decided.
    this.handedOver = true;
    this.stopAuthTimer();
    this.socket.off('data', this.onData);
    this.socket.pause();
    this.dropInput();
    const hello = this.claim.hello(
      request,
      { address: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0 },
      this.credentials.replicaUser,
      this.options.certificate,
    );
    this.enqueue(async () => {
      const refusal = await this.options.onSyncRequest(this, hello);
      if (refusal !== undefined) {
        this.warn('sync-refused', { reason: refusal }, 'sync refused: not a configured replica');
        // Lingering, not a bare end(): what the client pipelined after its SYNC sits unread in
        // the paused socket, and a socket with unread input never emits 'close' — the
        // connection would stay counted (and buffered) forever.
        endLingering(this.socket, encodeError(`ERR rbuddy: not a configured replica (${refusal})`));
      }
    });
  }

  /** Encoded when its turn comes: a HELLO queued before it may change the protocol. */
  private reply(value: Reply): void {
    this.enqueue(() => this.send(encodeReply(value, this.protocol)));
  }

  private enqueue(step: ReplyStep): void {
    this.replies.add(step);
  }
}
