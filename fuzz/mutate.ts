// Byte-level mutations shared by the RESP and HTTP input generators: the damage a confused
// client, a truncated write or a hostile one does to an otherwise valid request.
import type { Prng } from './prng.js';

/** Byte sequences that are not UTF-8: lone continuation bytes, overlong forms, surrogates, > U+10FFFF. */
export const BAD_UTF8: readonly Buffer[] = [
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
].map((bytes) => Buffer.from(bytes));

/** Numbers at the edges of every integer type a parser might use, and things that look like numbers. */
export const EDGE_NUMBERS: readonly string[] = [
  '0',
  '-0',
  '-1',
  '-2',
  '+1',
  ' 1',
  '1 ',
  '01',
  '1e3',
  '0x10',
  '1.5',
  '',
  'abc',
  '65535',
  '65536',
  '1024',
  '1025',
  '16384',
  '16385',
  '1048576',
  '1048577',
  '2147483647',
  '2147483648',
  '4294967295',
  '4294967296',
  '536870912',
  '536870913',
  '9007199254740991',
  '9007199254740993',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '18446744073709551616',
  '99999999999999999999',
  '999999999999999999999999999999',
  'NaN',
  'Infinity',
];

/** A bad-UTF-8 sequence. */
export function badUtf8(rng: Prng): Buffer {
  return rng.pick(BAD_UTF8);
}

/** The input with one number (a run of digits after `markers`) replaced by an edge number or n±1. */
function mutateNumber(rng: Prng, input: Buffer, markers: string): Buffer {
  const text = input.toString('latin1');
  const spots: Array<[number, number]> = [];
  const pattern = new RegExp(`[${markers}](-?[0-9]+)`, 'g');
  for (const match of text.matchAll(pattern)) {
    const start = (match.index ?? 0) + 1;
    spots.push([start, start + (match[1]?.length ?? 0)]);
  }
  if (spots.length === 0) return input;
  const [start, end] = rng.pick(spots);
  const old = Number(text.slice(start, end));
  const replacement = rng.chance(0.5)
    ? rng.pick(EDGE_NUMBERS)
    : String(old + rng.pick([-2, -1, 1, 2, 1000]));
  return Buffer.concat([
    input.subarray(0, start),
    Buffer.from(replacement, 'latin1'),
    input.subarray(end),
  ]);
}

/**
 * One to `max` random mutations. `numberMarkers` are the bytes after which a length stands
 * ("*$" in RESP, ":" and " " in HTTP headers).
 */
export function mutate(rng: Prng, input: Buffer, numberMarkers: string, max = 3): Buffer {
  let out = input;
  const count = rng.range(1, max);
  for (let i = 0; i < count; i += 1) {
    const at = rng.int(out.length + 1);
    switch (rng.int(9)) {
      case 0:
      case 1:
        out = mutateNumber(rng, out, numberMarkers);
        break;
      case 2:
        // A valid prefix: the rest never comes.
        out = out.subarray(0, at);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), badUtf8(rng), out.subarray(at)]);
        break;
      case 4:
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.range(1, 16)), out.subarray(at)]);
        break;
      case 5:
        if (at < out.length) {
          out = Buffer.from(out);
          out[at] = rng.int(256);
        }
        break;
      case 6:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + rng.range(1, 8))]);
        break;
      case 7: {
        const piece = out.subarray(at, at + rng.range(1, 64));
        out = Buffer.concat([out.subarray(0, at), piece, piece, out.subarray(at)]);
        break;
      }
      default: {
        // Line endings damaged: CRLF → LF, CR, or CRCR.
        const text = out.toString('latin1');
        const crlf = text.indexOf('\r\n', at);
        if (crlf !== -1) {
          const ending = rng.pick(['\n', '\r', '\r\r', '\n\r', '\0']);
          out = Buffer.concat([
            out.subarray(0, crlf),
            Buffer.from(ending, 'latin1'),
            out.subarray(crlf + 2),
          ]);
        }
      }
    }
  }
  return out;
}

/** Cut points for sending: none, a few random ones, or every byte (small inputs). */
export function splitPoints(rng: Prng, length: number): number[] {
  const mode = rng.int(10);
  if (length < 2 || mode < 4) return [];
  if (mode === 9 && length <= 4096) return Array.from({ length: length - 1 }, (_, i) => i + 1);
  const cuts = new Set<number>();
  const count = rng.range(1, Math.min(12, length - 1));
  for (let i = 0; i < count; i += 1) cuts.add(rng.range(1, length - 1));
  return [...cuts].sort((a, b) => a - b);
}
