// Generated inputs for rbuddy's RESP port: the commands it serves and some it does not, as
// multibulk or inline requests, before or after AUTH, then damaged (fuzz/mutate.ts). Rarely, an
// input sized to cross one of rbuddy's limits (docs/design.md, "Limits and trust").
import { encodeCommand } from '../src/resp/encode.js';
import { EDGE_NUMBERS, badUtf8, mutate } from './mutate.js';
import type { Prng } from './prng.js';

export interface RespContext {
  /** The RESP port's password: some inputs authenticate first, so post-AUTH paths are reached. */
  password: string;
  /** Listening ports of the configured replicas, which a stranger may claim in REPLCONF. */
  replicaPorts: readonly number[];
}

type Arg = string | Buffer;

function word(rng: Prng): Arg {
  switch (rng.int(6)) {
    case 0:
      return badUtf8(rng);
    case 1:
      return rng.pick(EDGE_NUMBERS);
    case 2:
      return rng.bytes(rng.range(0, 12));
    default:
      return rng.pick(['mymaster', 'ch', '*', 'x', '', 'default', 'rbuddy', '__sentinel__:hello']);
  }
}

/** One command: mostly ones rbuddy serves (with odd arguments), some it refuses. */
function command(rng: Prng, context: RespContext): Arg[] {
  const port = (): string =>
    rng.chance(0.6) ? String(rng.pick(context.replicaPorts)) : rng.pick(EDGE_NUMBERS);
  switch (rng.int(16)) {
    case 0:
      return rng.chance(0.5) ? ['PING'] : ['PING', word(rng)];
    case 1:
      return rng.chance(0.97) ? ['AUTH', context.password] : ['AUTH', word(rng)];
    case 2:
      return ['HELLO', rng.pick(['2', '3', ...EDGE_NUMBERS]), 'AUTH', 'default', context.password];
    case 3:
      return ['SENTINEL', rng.pick(['get-master-addr-by-name', 'master', 'replicas']), word(rng)];
    case 4:
      return ['SENTINEL', rng.pick(['masters', 'sentinels', 'myid', 'is-master-down-by-addr'])];
    case 5:
      return [rng.pick(['SUBSCRIBE', 'PSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE']), word(rng)];
    case 6:
      return ['REPLCONF', 'listening-port', port()];
    case 7:
      return ['REPLCONF', rng.pick(['capa', 'ip-address', 'ack', 'getack']), word(rng)];
    case 8:
      return ['PSYNC', rng.pick(['?', 'x'.repeat(40), '']), rng.pick(EDGE_NUMBERS)];
    case 9:
      return [rng.pick(['SYNC', 'QUIT', 'MONITOR', 'INFO', 'COMMAND', 'SHUTDOWN', 'FLUSHALL'])];
    case 10:
      return ['PUBLISH', word(rng), word(rng)];
    case 11:
      return [
        rng.pick(['GET', 'SET', 'DEBUG', 'CONFIG', 'CLIENT', 'SELECT']),
        word(rng),
        word(rng),
      ];
    case 12:
      return Array.from({ length: rng.range(0, 20) }, () => word(rng));
    case 13:
      // A claim to be a configured replica: REPLCONF with its port, then PSYNC.
      return ['REPLCONF', 'listening-port', port(), 'capa', 'eof', 'capa', 'psync2'];
    default:
      return [word(rng)];
  }
}

function quoteInline(rng: Prng, arg: Arg): string {
  const text = Buffer.isBuffer(arg) ? arg.toString('latin1') : arg;
  switch (rng.int(4)) {
    case 0:
      return `"${text.replace(/["\\]/g, '\\$&')}"`;
    case 1:
      return `'${text}'`;
    default:
      return text === '' ? '""' : text;
  }
}

function encodeOne(rng: Prng, args: Arg[]): Buffer {
  if (rng.chance(0.8)) return encodeCommand(args);
  const line = args.map((arg) => quoteInline(rng, arg)).join(rng.pick([' ', '  ', '\t']));
  return Buffer.from(`${line}${rng.pick(['\r\n', '\n'])}`, 'latin1');
}

/** Inputs sized to meet a limit: a long inline line, a big bulk, a long array, a pipeline. */
function oversized(rng: Prng, context: RespContext): Buffer {
  const auth = rng.chance(0.5) ? encodeCommand(['AUTH', context.password]) : Buffer.alloc(0);
  switch (rng.int(5)) {
    case 0:
      return Buffer.concat([auth, Buffer.alloc(rng.range(60_000, 70_000), 0x61)]);
    case 1: {
      const size = rng.pick([16_384, 16_385, 1_048_576, 1_048_577]);
      const sent = rng.chance(0.5) ? size : rng.int(size);
      return Buffer.concat([
        auth,
        Buffer.from(`*2\r\n$4\r\nPING\r\n$${size}\r\n`),
        Buffer.alloc(sent, 0x62),
      ]);
    }
    case 2: {
      const count = rng.pick([10, 11, 1024, 1025, 4096]);
      const items = Array.from({ length: count }, () => 'x');
      return Buffer.concat([auth, encodeCommand(['PING', ...items])]);
    }
    case 3: {
      const count = rng.range(16, 2_000);
      return Buffer.concat([
        auth,
        Buffer.concat(Array.from({ length: count }, () => encodeCommand(['PING']))),
      ]);
    }
    default:
      return Buffer.concat([
        auth,
        Buffer.from(`*${rng.range(2, 5)}\r\n`),
        Buffer.alloc(rng.range(60_000, 70_000), 0x24),
      ]);
  }
}

/** One RESP input. */
export function respInput(rng: Prng, context: RespContext): Buffer {
  if (rng.chance(0.01)) return oversized(rng, context);
  const parts: Buffer[] = [];
  if (rng.chance(0.5)) parts.push(encodeOne(rng, ['AUTH', context.password]));
  const count = rng.range(1, 6);
  for (let i = 0; i < count; i += 1) parts.push(encodeOne(rng, command(rng, context)));
  if (rng.chance(0.1)) parts.push(encodeCommand(['PSYNC', '?', '-1']));
  const input = Buffer.concat(parts);
  return rng.chance(0.6) ? mutate(rng, input, '*$') : input;
}
