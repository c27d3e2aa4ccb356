// RESP encoders for what the proxy itself says (replies to replicas and clients, commands it
// sends upstream). Relayed bytes never pass through here.
import { ProtocolError } from '../errors.js';

export type RespValue = string | number | Buffer | null | RespError | RespValue[];

/** Wraps an error message so encode() writes it as `-…`. */
export class RespError {
  constructor(readonly message: string) {}
}

const CRLF = Buffer.from('\r\n', 'latin1');
const NULL_BULK = Buffer.from('$-1\r\n', 'latin1');
const LINE_BREAK = /[\r\n]/;
const LINE_BREAKS = /[\r\n]/g;

/** A multibulk of bulk strings, the form every Redis command takes on the wire. */
export function encodeCommand(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [header('*', args.length)];
  for (const arg of args) pushBulk(parts, arg);
  return Buffer.concat(parts);
}

/** `+text\r\n`. A simple string cannot carry CR or LF, so text containing them is refused. */
export function encodeSimple(text: string): Buffer {
  if (LINE_BREAK.test(text)) {
    throw new ProtocolError(`a simple string cannot contain CR or LF: ${JSON.stringify(text)}`);
  }
  return Buffer.from(`+${text}\r\n`, 'utf8');
}

/**
 * `-message\r\n`; the message should start with its code ("ERR …", "NOAUTH …"). CR and LF become
 * spaces, as Redis's addReplyErrorLength does, so any text is safe to send.
 */
export function encodeError(message: string): Buffer {
  return Buffer.from(`-${message.replace(LINE_BREAKS, ' ')}\r\n`, 'utf8');
}

/** Strings and Buffers become bulk strings, numbers integers, null the null bulk, arrays arrays. */
export function encode(value: RespValue): Buffer {
  const parts: Buffer[] = [];
  pushValue(parts, value);
  return Buffer.concat(parts);
}

function pushValue(parts: Buffer[], value: RespValue): void {
  if (value === null) {
    parts.push(NULL_BULK);
  } else if (typeof value === 'string' || Buffer.isBuffer(value)) {
    pushBulk(parts, value);
  } else if (typeof value === 'number') {
    // RESP2 integers are 64-bit; a double has no exact RESP2 form, so refuse it.
    if (!Number.isSafeInteger(value)) {
      throw new ProtocolError(`cannot encode ${value} as a RESP integer`);
    }
    parts.push(header(':', value));
  } else if (value instanceof RespError) {
    parts.push(encodeError(value.message));
  } else {
    parts.push(header('*', value.length));
    for (const element of value) pushValue(parts, element);
  }
}

function pushBulk(parts: Buffer[], value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  parts.push(header('$', bytes.length), bytes, CRLF);
}

function header(prefix: '*' | '$' | ':', n: number): Buffer {
  return Buffer.from(`${prefix}${n}\r\n`, 'latin1');
}
