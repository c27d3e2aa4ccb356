// Who a connection on the RESP port has proved to be: AUTH's password check (also for HELLO …
// AUTH), judged as Redis's ACLCheckUserCredentials judges it, with the wrong passwords counted on
// the connection and reported to the listener's AuthThrottle (per peer IP). What the connection
// does about a verdict (the reply, the warning, closing it) stays in ClientConnection.
import { sameSecret } from '../secrets.js';
import { RespError } from '../resp/encode.js';
import { AUTH_MAX_FAILURES_PER_CONNECTION, type AuthThrottle } from './auth-throttle.js';
import { AUTH_WITHOUT_PASSWORD, WRONGPASS } from './client-commands.js';

export interface ClientAuthOptions {
  listenPassword: string;
  /** Per-replica users (user → password): a replica that AUTHs as one is bound to its node. */
  replicaUsers?: ReadonlyMap<string, string> | undefined;
  /** Shared by every connection of the listener: AUTH failures are counted per peer IP. */
  authThrottle?: AuthThrottle | undefined;
  /** The peer's IP, as the throttle counts it. */
  peerIp: string;
}

/** A refused AUTH: its reply, and when the password was wrong, what to warn about. */
export interface AuthRefusal {
  reply: RespError;
  wrongPassword?: {
    user: string;
    /** Wrong passwords on this connection so far. */
    failures: number;
    /** The throttle's count for the peer's IP. */
    fromPeer: number | undefined;
    /** Too many on this connection: it is to be closed after the reply. */
    tooMany: boolean;
  };
}

export class ClientAuth {
  private readonly options: ClientAuthOptions;
  private authenticatedNow: boolean;
  private user: string | undefined;
  private failures = 0;

  constructor(options: ClientAuthOptions) {
    this.options = options;
    this.authenticatedNow = options.listenPassword === '';
  }

  /** Without a password every connection starts authenticated. */
  get authenticated(): boolean {
    return this.authenticatedNow;
  }

  /** The per-replica user this connection authenticated as, if any. */
  get replicaUser(): string | undefined {
    return this.user;
  }

  /** AUTH's arguments (name included): undefined when accepted, the refusal otherwise. */
  check(args: readonly Buffer[]): AuthRefusal | undefined {
    if (args.length < 2 || args.length > 3) {
      return { reply: new RespError("ERR wrong number of arguments for 'auth' command") };
    }
    const user = args.length === 3 ? (args[1]?.toString() ?? '') : 'default';
    const given = args[args.length - 1] ?? Buffer.alloc(0);
    const replicaPassword = this.options.replicaUsers?.get(user);
    const expected = replicaPassword ?? this.options.listenPassword;
    // As Redis's ACLCheckUserCredentials: without a password the default user is nopass (any
    // password, if named; the one-argument form is refused); a user not configured does not exist.
    const knownUser = replicaPassword !== undefined || user === 'default';
    if (expected === '' && knownUser && args.length === 2) {
      return { reply: new RespError(AUTH_WITHOUT_PASSWORD) };
    }
    if (!knownUser || (expected !== '' && !sameSecret(given, expected))) {
      const fromPeer = this.options.authThrottle?.recordFailure(this.options.peerIp);
      this.failures += 1;
      const tooMany = this.failures >= AUTH_MAX_FAILURES_PER_CONNECTION;
      return {
        reply: new RespError(WRONGPASS),
        wrongPassword: { user, failures: this.failures, fromPeer, tooMany },
      };
    }
    this.user = replicaPassword === undefined ? undefined : user;
    this.authenticatedNow = true;
    return undefined;
  }

  /** AUTH (and HELLO … AUTH) from a peer IP that recently failed waits before it is checked. */
  delayMs(): number {
    return this.options.authThrottle?.delayFor(this.options.peerIp) ?? 0;
  }
}
