// Generated inputs for rbuddy's admin HTTP port: the routes it serves and others, odd methods,
// Host and Authorization headers (never the real token: nothing here may start a failover),
// bodies with wrong lengths or broken chunking, pipelined requests, then damaged
// (fuzz/mutate.ts).
import { EDGE_NUMBERS, badUtf8, mutate } from './mutate.js';
import type { Prng } from './prng.js';

export interface HttpContext {
  /** `host:port` of the admin listener, a Host header it accepts. */
  authority: string;
}

const PATHS = [
  '/active',
  '/healthz',
  '/readyz',
  '/v1/status',
  '/metrics',
  '/v1/failover',
  '/v1/failover/confirm',
  '/v1/failover/abort',
  '/',
  '/v1/status?verbose=1',
  '/active#x',
  '//active',
  '/../../etc/passwd',
  '/%ff%fe%00',
  '*',
  'http://127.0.0.1/active',
  '/v1/status/',
  '/ACTIVE',
];

function text(rng: Prng, choices: readonly string[]): Buffer {
  if (rng.chance(0.1)) return Buffer.concat([Buffer.from(rng.pick(choices)), badUtf8(rng)]);
  return Buffer.from(rng.pick(choices), 'latin1');
}

function header(rng: Prng, context: HttpContext): string {
  switch (rng.int(10)) {
    case 0:
      return `Host: ${rng.pick([context.authority, 'evil.example', 'localhost', '', '[::1]:1'])}`;
    case 1:
      return `Authorization: ${rng.pick(['Bearer wrong', 'Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer ' + 'x'.repeat(300)])}`;
    case 2:
      return `Content-Length: ${rng.pick(EDGE_NUMBERS)}`;
    case 3:
      return `Transfer-Encoding: ${rng.pick(['chunked', 'gzip, chunked', 'identity', 'chunked, chunked'])}`;
    case 4:
      return `Connection: ${rng.pick(['close', 'keep-alive', 'upgrade', 'Upgrade, HTTP2-Settings'])}`;
    case 5:
      return `Expect: ${rng.pick(['100-continue', '200-ok'])}`;
    case 6:
      return `X-${rng.int(1000)}: ${'v'.repeat(rng.pick([1, 100, 9_000, 20_000]))}`;
    case 7:
      return rng.pick([
        'NoColonHere',
        ': empty name',
        ' folded: value',
        'Content-Type: application/json',
      ]);
    case 8:
      return `Upgrade: ${rng.pick(['websocket', 'h2c'])}`;
    default:
      return `Accept: */*`;
  }
}

function body(rng: Prng): Buffer {
  switch (rng.int(4)) {
    case 0:
      return Buffer.from(
        `${rng.pick(['5', 'ffffffffffffffff', '-1', 'zz', '0'])}\r\nhello\r\n0\r\n\r\n`,
      );
    case 1:
      return Buffer.from('{"force":true,"reason":"fuzz"}');
    case 2:
      return rng.bytes(rng.range(0, 2_000));
    default:
      return Buffer.alloc(0);
  }
}

function request(rng: Prng, context: HttpContext): Buffer {
  const method = text(rng, [
    'GET',
    'GET',
    'GET',
    'POST',
    'HEAD',
    'PUT',
    'DELETE',
    'OPTIONS',
    'CONNECT',
    'TRACE',
    'PRI',
    'get',
    '',
  ]);
  const path = rng.chance(0.02)
    ? Buffer.from(`/${'a'.repeat(rng.range(8_000, 90_000))}`)
    : text(rng, PATHS);
  const version = rng.pick([
    'HTTP/1.1',
    'HTTP/1.1',
    'HTTP/1.0',
    'HTTP/2.0',
    'HTTP/1.1x',
    '',
    'HTTP/0.9',
  ]);
  const headers: string[] = [];
  if (rng.chance(0.8)) headers.push(`Host: ${context.authority}`);
  const count = rng.chance(0.02) ? rng.range(100, 3_000) : rng.range(0, 5);
  for (let i = 0; i < count; i += 1) headers.push(header(rng, context));
  const eol = rng.chance(0.95) ? '\r\n' : '\n';
  return Buffer.concat([
    method,
    Buffer.from(' '),
    path,
    Buffer.from(
      ` ${version}${eol}${headers.join(eol)}${headers.length > 0 ? eol : ''}${eol}`,
      'latin1',
    ),
    body(rng),
  ]);
}

/** One HTTP input: one to three requests on one connection. */
export function httpInput(rng: Prng, context: HttpContext): Buffer {
  const count = rng.chance(0.8) ? 1 : rng.range(2, 3);
  const input = Buffer.concat(Array.from({ length: count }, () => request(rng, context)));
  return rng.chance(0.5) ? mutate(rng, input, ': ') : input;
}
