// The proxy's own rules and wording for plain clients: which commands it serves itself, what a
// subscribed client may still send, and Redis's error messages for the rest (client libraries
// show familiar text).
import { encode, encodeSimple, type Protocol, type RespValue } from '../resp/encode.js';

/** A reply the proxy itself gives: any RESP value, or a simple string like +OK. */
export type Reply = RespValue | { simple: string };

export const NOAUTH = 'NOAUTH Authentication required.';
/** What a client in Redis's subscribed mode may still send. */
export const SUBSCRIBED_MODE_COMMANDS = new Set([
  'subscribe',
  'psubscribe',
  'unsubscribe',
  'punsubscribe',
  'ping',
  'quit',
]);

/** Commands served here rather than by `commands`: a valid first command. */
export const BUILTIN_COMMANDS = new Set(['auth', 'ping', 'quit', 'replconf', 'psync', 'sync']);
export const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';
export const AUTH_WITHOUT_PASSWORD =
  'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?';

/** Commands whose first argument names a subcommand, which Redis's messages name with it. */
const CONTAINERS = new Set(['sentinel', 'client', 'command', 'config', 'acl', 'object', 'memory']);

/** `command` is lower case; `sub`, the first argument, is named too for a container command. */
export function subscribedModeMessage(command: string, sub?: Buffer): string {
  const full =
    CONTAINERS.has(command) && sub !== undefined
      ? `${command}|${sub.toString('latin1').toLowerCase()}`
      : command;
  return `ERR Can't execute '${full.slice(0, 128)}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`;
}

export function encodeReply(value: Reply, protocol: Protocol = 2): Buffer {
  return typeof value === 'object' && value !== null && 'simple' in value
    ? encodeSimple(value.simple)
    : encode(value, protocol);
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

export type ClientLimitReason =
  | 'output-limit'
  | 'query-limit'
  | 'input-budget'
  | 'output-budget'
  | 'auth-timeout'
  | 'auth-failures'
  | 'unauthenticated-commands';

/** What one connection holds on the proxy's side right now (status, tests). */
export interface ClientConnectionStats {
  /** Replies written but not yet taken by the kernel. */
  outputBytes: number;
  /** Bytes of an incomplete command. */
  inputBytes: number;
  /** Reading is paused until the client reads its replies. */
  paused: boolean;
  /** The auth deadline still runs (not authenticated, or no valid command yet). */
  awaitingAuth: boolean;
}
