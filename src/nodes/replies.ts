// ioredis's `call` answers `unknown`: what a node sent is checked before it is used, so that a
// reply of an unexpected shape (a proxy in the way, a server that is not Redis) fails as a coded
// error naming the command, instead of travelling on under a type it does not have.
import { UnexpectedReplyError } from '../errors.js';

/** A bulk or simple string reply (INFO, CONFIG SET's OK …). `what`: the command, for the error. */
export function asString(reply: unknown, what: string): string {
  if (typeof reply === 'string') return reply;
  throw new UnexpectedReplyError(`${what} answered ${describe(reply)}, not a string`);
}

/** An array reply (ROLE, CONFIG GET …), its items still unchecked. */
export function asArray(reply: unknown, what: string): unknown[] {
  if (Array.isArray(reply)) return reply.map((item: unknown) => item);
  throw new UnexpectedReplyError(`${what} answered ${describe(reply)}, not an array`);
}

function describe(reply: unknown): string {
  if (reply === null) return 'nil';
  if (Buffer.isBuffer(reply)) return 'a binary string';
  if (Array.isArray(reply)) return 'an array';
  if (typeof reply === 'object' || typeof reply === 'undefined') return `an ${typeof reply}`;
  return `a ${typeof reply}`;
}
