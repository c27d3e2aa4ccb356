// RESP encoders for what the proxy itself says (replies to replicas and clients, commands it
// sends upstream). Relayed bytes never pass through here. A client that said `HELLO 3` is
// answered in RESP3: maps, sets, pushes, verbatim strings and `_` for null keep their own types
// there, and fold into RESP2's arrays and bulk strings otherwise, as Redis's addReplyMapLen and
// friends do in networking.c.
import { ProtocolError } from '../errors.js';

export type RespValue =
  | string
  | number
  | Buffer
  | null
  | RespError
  | RespSimple
  | RespMap
  | RespAggregate
  | RespVerbatim
  | RespNullArray
  | RespValue[];

/** The protocol a client speaks: 2 until it says `HELLO 3`. */
export type Protocol = 2 | 3;

/** Wraps an error message so encode() writes it as `-…`. */
export class RespError {
  constructor(readonly message: string) {}
}

/** `+text`: a status reply (OK, PONG, Sentinel's CKQUORUM line). */
export class RespSimple {
  constructor(readonly text: string) {}
}

/** A map (`%`) in RESP3; a flat field/value array in RESP2. */
export class RespMap {
  constructor(readonly entries: ReadonlyArray<readonly [RespValue, RespValue]>) {}
}

/** A set (`~`) or an out-of-band push (`>`, pub/sub messages) in RESP3; an array in RESP2. */
export class RespAggregate {
  constructor(
    readonly kind: 'set' | 'push',
    readonly items: readonly RespValue[],
  ) {}
}

/** A verbatim string (`=`, `txt:` prefixed) in RESP3; a bulk string in RESP2. */
export class RespVerbatim {
  constructor(readonly text: string) {}
}

/**
 * `*-1` in RESP2 (where `null` is the null bulk `$-1`), `_` in RESP3: the null Redis sends where
 * an array was expected (addReplyNullArray), e.g. SENTINEL GET-MASTER-ADDR-BY-NAME of an unknown
 * name. Clients that check the reply's type tell the two apart.
 */
export class RespNullArray {}
export const NULL_ARRAY = new RespNullArray();

const CRLF = Buffer.from('\r\n', 'latin1');
const NULL_BULK = Buffer.from('$-1\r\n', 'latin1');
const NULL_RESP3 = Buffer.from('_\r\n', 'latin1');
const NULL_ARRAY_RESP2 = Buffer.from('*-1\r\n', 'latin1');
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

/**
 * Strings and Buffers become bulk strings, numbers integers, null the null bulk (`_` in RESP3),
 * arrays arrays; the wrapper classes as their comments say.
 */
export function encode(value: RespValue, protocol: Protocol = 2): Buffer {
  const parts: Buffer[] = [];
  pushValue(parts, value, protocol);
  return Buffer.concat(parts);
}

function pushValue(parts: Buffer[], value: RespValue, protocol: Protocol): void {
  if (value === null) {
    parts.push(protocol === 3 ? NULL_RESP3 : NULL_BULK);
  } else if (value instanceof RespNullArray) {
    parts.push(protocol === 3 ? NULL_RESP3 : NULL_ARRAY_RESP2);
  } else if (typeof value === 'string' || Buffer.isBuffer(value)) {
    pushBulk(parts, value);
  } else if (typeof value === 'number') {
    // RESP integers are 64-bit; a double is not what any reply here means, so refuse it.
    if (!Number.isSafeInteger(value)) {
      throw new ProtocolError(`cannot encode ${value} as a RESP integer`);
    }
    parts.push(header(':', value));
  } else if (value instanceof RespError) {
    parts.push(encodeError(value.message));
  } else if (value instanceof RespSimple) {
    parts.push(encodeSimple(value.text));
  } else if (value instanceof RespVerbatim) {
    if (protocol === 2) pushBulk(parts, value.text);
    else pushBulk(parts, `txt:${value.text}`, '=');
  } else if (value instanceof RespMap) {
    parts.push(
      protocol === 3 ? header('%', value.entries.length) : header('*', value.entries.length * 2),
    );
    for (const [field, item] of value.entries) {
      pushValue(parts, field, protocol);
      pushValue(parts, item, protocol);
    }
  } else if (value instanceof RespAggregate) {
    const prefix = protocol === 2 ? '*' : value.kind === 'set' ? '~' : '>';
    parts.push(header(prefix, value.items.length));
    for (const element of value.items) pushValue(parts, element, protocol);
  } else {
    parts.push(header('*', value.length));
    for (const element of value) pushValue(parts, element, protocol);
  }
}

function pushBulk(parts: Buffer[], value: string | Buffer, prefix: '$' | '=' = '$'): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  parts.push(header(prefix, bytes.length), bytes, CRLF);
}

function header(prefix: '*' | '$' | ':' | '%' | '~' | '>' | '=', n: number): Buffer {
  return Buffer.from(`${prefix}${n}\r\n`, 'latin1');
}
