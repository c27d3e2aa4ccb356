// PSUBSCRIBE patterns cost the publisher little, whatever a subscriber sends: the glob matcher's
// work is bounded by pattern × channel length (counted, not timed), it agrees with the
// backtracking matcher it replaced, and the hub matches each pattern against each channel once,
// not at every publish, while still delivering exactly the right pmessages.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { globMatch, type GlobWork } from '../../src/discovery/glob.js';
import { MAX_TOTAL_PATTERNS, PubSubHub, type Subscriber } from '../../src/discovery/pubsub-hub.js';
import { SENTINEL_CHANNELS } from '../../src/discovery/sentinel-events.js';

const silent = pino({ level: 'silent' });

/**
 * The previous, backtracking matcher (exponential on `*?*?…`), kept as the oracle for Redis's
 * stringmatchlen semantics; the properties only run it on inputs small enough to finish.
 */
function oracle(pattern: Buffer, p: number, subject: Buffer, s: number): boolean {
  while (p < pattern.length) {
    const c = pattern[p];
    if (c === 0x2a) {
      while (pattern[p + 1] === 0x2a) p++;
      if (p + 1 === pattern.length) return true;
      for (let from = s; from <= subject.length; from++) {
        if (oracle(pattern, p + 1, subject, from)) return true;
      }
      return false;
    }
    if (s >= subject.length) return false;
    if (c === 0x5b) {
      let q = p + 1;
      const negate = pattern[q] === 0x5e;
      if (negate) q++;
      let matched = false;
      const byte = subject[s];
      for (; q < pattern.length && pattern[q] !== 0x5d; q++) {
        if (pattern[q] === 0x5c && q + 1 < pattern.length) {
          // The escaped byte is skipped whether or not the class matched already (`||=` would
          // short-circuit the `++q`: `[a\]a` is an unterminated class in Redis, as here).
          q++;
          matched ||= pattern[q] === byte;
        } else if (q + 2 < pattern.length && pattern[q + 1] === 0x2d && pattern[q + 2] !== 0x5d) {
          const [a, b] = [pattern[q] ?? 0, pattern[q + 2] ?? 0];
          matched ||= byte !== undefined && byte >= Math.min(a, b) && byte <= Math.max(a, b);
          q += 2;
        } else {
          matched ||= pattern[q] === byte;
        }
      }
      if (matched === negate) return false;
      p = q < pattern.length ? q + 1 : q;
    } else if (c !== 0x3f) {
      const literal = c === 0x5c && p + 1 < pattern.length ? ++p : p;
      if (pattern[literal] !== subject[s]) return false;
      p++;
    } else {
      p++;
    }
    s++;
  }
  return s === subject.length;
}

const patternChars = fc.constantFrom(...'ab*?[]^-\\'.split(''));
const subjectChars = fc.constantFrom(...'ab-^]\\*'.split(''));

/** `*?` twelve times then a literal tail: the review's pattern, 1024 distinct ones per connection. */
const hostile = (i: number): string => `${'*?'.repeat(12)}Z${i}`;

const CHANNELS = [...SENTINEL_CHANNELS, 'rbuddy:events'];

describe('globMatch: bounded work, same answers as the backtracking matcher', () => {
  it("agrees with redis-server's KEYS on escapes inside an unterminated class", () => {
    // Seen with redis-server 7.0: KEYS '[a\\]a' and KEYS '[*\\]a' over the keys a, *, ].
    const cases: [string, string, boolean][] = [
      ['[a\\]a', 'a', true],
      ['[*\\]a', '*', true],
      ['[*\\]a', 'a', true],
      ['[\\]', ']', true],
      ['[', 'a', false],
      ['[^', 'a', true],
    ];
    for (const [pattern, subject, expected] of cases) {
      const [p, s] = [Buffer.from(pattern), Buffer.from(subject)];
      assert.equal(globMatch(p, s), expected, `${pattern} ~ ${subject}`);
      assert.equal(oracle(p, 0, s, 0), expected, `oracle: ${pattern} ~ ${subject}`);
    }
  });

  it('agrees with the previous matcher on small patterns and subjects', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: patternChars, maxLength: 8 }),
        fc.string({ unit: subjectChars, maxLength: 8 }),
        (pattern, subject) => {
          const [p, s] = [Buffer.from(pattern), Buffer.from(subject)];
          assert.equal(globMatch(p, s), oracle(p, 0, s, 0), `${pattern} ~ ${subject}`);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('takes at most (pattern + 1) × (subject + 1) steps on backtracking patterns', () => {
    const cases: [string, string][] = [
      [hostile(7), '+slave-reconf-done'],
      [hostile(7), 'x'.repeat(40) + 'Z8'],
      [`${'*a'.repeat(30)}b`, 'a'.repeat(60)],
      [`${'*a'.repeat(200)}b`, 'a'.repeat(400)],
      [`${'*?'.repeat(500)}`, 'a'.repeat(1000)],
      [`*${'a'.repeat(50)}b`, 'a'.repeat(300)],
    ];
    for (const [pattern, subject] of cases) {
      const work: GlobWork = { steps: 0 };
      const matched = globMatch(Buffer.from(pattern), Buffer.from(subject), work);
      assert.ok(work.steps > 0 || !matched, `${pattern}: counted`);
      const bound = (pattern.length + 1) * (subject.length + 1);
      assert.ok(work.steps <= bound, `${pattern.slice(0, 20)}…: ${work.steps} > ${bound}`);
    }
  });

  it('answers patterns the previous matcher gave up on', () => {
    // The previous matcher capped its recursion at 10,000 calls and then answered "no match";
    // here the successful path alone tries 20 × 600 positions.
    const pattern = '*b'.repeat(20);
    const subject = `${'a'.repeat(600)}b`.repeat(20);
    assert.equal(globMatch(Buffer.from(pattern), Buffer.from(subject)), true);
    assert.equal(globMatch(Buffer.from(`${pattern}b`), Buffer.from(subject)), false);
  });
});

class FakeSubscriber implements Subscriber {
  subscriptions = 0;
  protocol: 2 | 3 = 2;
  readonly written: Buffer[] = [];
  private readonly emitter = new EventEmitter();
  readonly socket: Subscriber['socket'] = {
    writableLength: 0,
    destroy: (): void => void this.emitter.emit('close'),
    once: (name: 'close', listener: () => void): unknown => this.emitter.once(name, listener),
  };
  constructor(readonly id: string) {}
  send(bytes: Buffer): void {
    this.written.push(bytes);
  }
  /** The pmessages received, as `pattern channel` pairs. */
  pmessages(): string[] {
    const text = Buffer.concat(this.written).toString('latin1');
    const found: string[] = [];
    const re = /\*4\r\n\$8\r\npmessage\r\n\$\d+\r\n([^\r]*)\r\n\$\d+\r\n([^\r]*)\r\n/g;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) found.push(`${m[1]} ${m[2]}`);
    return found;
  }
}

describe('PubSubHub: patterns are matched once per channel, not at every publish', () => {
  it('does no glob work in publish() after the patterns were subscribed', () => {
    const work: GlobWork = { steps: 0 };
    const hub = new PubSubHub({ logger: silent, globWork: work });
    hub.sink('rbuddy:events');
    const clients = Array.from({ length: 3 }, (_, c) => new FakeSubscriber(`c${c}`));
    for (const client of clients) {
      hub.psubscribe(
        client,
        Array.from({ length: 200 }, (_, i) => Buffer.from(hostile(i))),
      );
    }
    const afterSubscribe = work.steps;
    assert.ok(afterSubscribe > 0, 'the patterns were matched against the channels once');
    for (let round = 0; round < 3; round++) {
      for (const channel of CHANNELS) hub.publish(channel, 'm');
    }
    assert.equal(work.steps, afterSubscribe, 'publish() matched no pattern again');
  });

  it('delivers exactly the right pmessages to many hostile patterns', () => {
    const hub = new PubSubHub({ logger: silent });
    hub.sink('rbuddy:events');
    const client = new FakeSubscriber('c');
    const patterns = [
      ...Array.from({ length: 500 }, (_, i) => hostile(i)),
      '+switch-*',
      '*?*?*?*?*?*?*?*?*?*?*?*?r',
      '[+-]odown',
      `${'*?'.repeat(12)}done`,
      '*',
    ];
    hub.psubscribe(
      client,
      patterns.map((p) => Buffer.from(p)),
    );
    hub.punsubscribe(client, [Buffer.from('*')]);
    const channels = [...CHANNELS, 'never-known-before-Z3'];
    const expected: string[] = [];
    // `*?` n times then a tail: the channel ends with the tail and has n more bytes (the
    // oracle would take exponential time to say no); the others are small enough for it.
    const answer = (p: string, channel: string): boolean => {
      const tail = /^(?:\*\?)+(?<tail>[^*?]+)$/.exec(p)?.groups?.tail;
      if (tail === undefined) return oracle(Buffer.from(p), 0, Buffer.from(channel), 0);
      return channel.endsWith(tail) && channel.length >= (p.length - tail.length) / 2 + tail.length;
    };
    for (const channel of channels) {
      hub.publish(channel, 'm');
      for (const p of patterns.slice(0, -1))
        if (answer(p, channel)) expected.push(`${p} ${channel}`);
    }
    assert.deepEqual(client.pmessages(), expected);
    assert.ok(expected.includes('+switch-* +switch-master'));
    assert.ok(expected.includes(`${hostile(3)} never-known-before-Z3`));
    assert.ok(expected.includes('[+-]odown -odown'));
  });

  it('bounds the patterns held across all connections, and frees those of a closed one', () => {
    const hub = new PubSubHub({ logger: silent });
    const clients = Array.from({ length: 5 }, (_, c) => new FakeSubscriber(`c${c}`));
    for (const client of clients) {
      hub.psubscribe(
        client,
        Array.from({ length: 1000 }, (_, i) => Buffer.from(hostile(i))),
      );
    }
    const held = clients.reduce((sum, client) => sum + client.subscriptions, 0);
    assert.equal(held, MAX_TOTAL_PATTERNS);
    const last = clients[4];
    assert.ok(last !== undefined);
    assert.match(
      Buffer.concat(last.written).toString(),
      /-ERR rbuddy: at most 4096 patterns in all/,
    );
    hub.subscribe(last, [Buffer.from('+switch-master')]);
    assert.equal(last.subscriptions, 97, 'channels are not counted against the patterns');
    clients[0]?.socket.destroy();
    hub.psubscribe(last, [Buffer.from('+switch-*')]);
    assert.equal(last.subscriptions, 98, 'a closed connection gave its patterns back');
    hub.punsubscribe(clients[1] ?? last, []);
    hub.psubscribe(
      last,
      Array.from({ length: 900 }, (_, i) => Buffer.from(`p${i}`)),
    );
    assert.equal(last.subscriptions, 998);
  });
});
