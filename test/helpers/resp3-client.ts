// A bare TCP client that speaks RESP2 or RESP3 and keeps each reply's wire type (map, push,
// verbatim, null …), so a test can compare the shape of rbuddy's replies with real Sentinel's.
import { connect, type Socket } from 'node:net';
import { waitFor } from '../../harness/wait-for.js';

export type Typed =
  | { type: 'simple' | 'error' | 'bulk' | 'verbatim' | 'bignum'; value: string }
  | { type: 'integer' | 'double'; value: number }
  | { type: 'boolean'; value: boolean }
  | { type: 'null' }
  /** RESP2's `*-1`, which Redis sends where an array was expected; `$-1` is `null`. */
  | { type: 'null-array' }
  | { type: 'array' | 'set' | 'push'; items: Typed[] }
  | { type: 'map' | 'attribute'; entries: [Typed, Typed][] };

/** Parses one reply at `offset`; undefined when the buffer holds only part of it. */
export function parseTyped(buf: Buffer, offset = 0): { reply: Typed; next: number } | undefined {
  const end = buf.indexOf('\r\n', offset, 'latin1');
  if (end < 0) return undefined;
  const prefix = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, end);
  const after = end + 2;
  const aggregate = (count: number, pairs: boolean) => {
    const items: Typed[] = [];
    let at = after;
    for (let i = 0; i < count * (pairs ? 2 : 1); i++) {
      const parsed = parseTyped(buf, at);
      if (parsed === undefined) return undefined;
      items.push(parsed.reply);
      at = parsed.next;
    }
    return { items, next: at };
  };
  switch (prefix) {
    case '+':
      return { reply: { type: 'simple', value: line }, next: after };
    case '-':
      return { reply: { type: 'error', value: line }, next: after };
    case ':':
      return { reply: { type: 'integer', value: Number(line) }, next: after };
    case ',':
      return { reply: { type: 'double', value: Number(line) }, next: after };
    case '(':
      return { reply: { type: 'bignum', value: line }, next: after };
    case '#':
      return { reply: { type: 'boolean', value: line === 't' }, next: after };
    case '_':
      return { reply: { type: 'null' }, next: after };
    case '$':
    case '=': {
      const length = Number(line);
      if (length < 0) return { reply: { type: 'null' }, next: after };
      if (buf.length < after + length + 2) return undefined;
      const text = buf.toString('utf8', after, after + length);
      return prefix === '$'
        ? { reply: { type: 'bulk', value: text }, next: after + length + 2 }
        : { reply: { type: 'verbatim', value: text.slice(4) }, next: after + length + 2 };
    }
    case '*':
    case '~':
    case '>': {
      const count = Number(line);
      if (count < 0) return { reply: { type: 'null-array' }, next: after };
      const parsed = aggregate(count, false);
      if (parsed === undefined) return undefined;
      const type = prefix === '*' ? 'array' : prefix === '~' ? 'set' : 'push';
      return { reply: { type, items: parsed.items }, next: parsed.next };
    }
    case '%':
    case '|': {
      const parsed = aggregate(Number(line), true);
      if (parsed === undefined) return undefined;
      const entries: [Typed, Typed][] = [];
      for (let i = 0; i < parsed.items.length; i += 2) {
        entries.push([parsed.items[i], parsed.items[i + 1]]);
      }
      return { reply: { type: prefix === '%' ? 'map' : 'attribute', entries }, next: parsed.next };
    }
    default:
      throw new Error(`unknown RESP type byte ${JSON.stringify(prefix)}`);
  }
}

export class Resp3Client {
  private buffered = Buffer.alloc(0);
  private readonly replies: Typed[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      for (;;) {
        const parsed = parseTyped(this.buffered);
        if (parsed === undefined) break;
        this.replies.push(parsed.reply);
        this.buffered = this.buffered.subarray(parsed.next);
      }
    });
    socket.on('error', () => undefined);
  }

  static async connect(host: string, port: number): Promise<Resp3Client> {
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Resp3Client(socket);
  }

  async command(...args: string[]): Promise<Typed> {
    this.socket.write(
      `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
    );
    return this.next();
  }

  async next(timeoutMs = 10_000): Promise<Typed> {
    await waitFor(() => this.replies.length > 0, { what: 'a reply', timeoutMs });
    return this.replies.shift() as Typed;
  }

  close(): void {
    this.socket.destroy();
  }
}
