// A client connection's bounds, driven through a fake Duplex whose "peer" reads only when the test
// says so: input is not read while replies are not drained (and is read again once they are), a
// client past its output limit is closed, and so is one past the query buffer limit, the auth
// deadline, the commands allowed before AUTH, or the wrong passwords allowed on one connection;
// connections sharing an input budget: the one holding the most is closed past it, and what each
// holds is returned when its command completes or it closes.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { AuthThrottle } from '../../src/proxy/auth-throttle.js';
import {
  ClientConnection,
  type ClientConnectionOptions,
  type ClientLimitReason,
} from '../../src/proxy/client-connection.js';
import { InputBudget } from '../../src/proxy/input-budget.js';
import { CLIENT_MAX_QUERY_BYTES, UNAUTHENTICATED_MAX_COMMANDS } from '../../src/resp/limits.js';
import { waitFor } from '../../harness/wait-for.js';

const silent = pino({ level: 'silent' });

/** A socket whose peer takes what is written only while `peerReads` is true. */
class FakeSocket extends Duplex {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 50_000;
  /** Everything the peer has taken, in order. */
  private readonly taken: Buffer[] = [];
  private readonly held: Array<{ chunk: Buffer; callback: () => void }> = [];
  private peerReads: boolean;

  constructor(options: { peerReads: boolean }) {
    super({ writableHighWaterMark: 1024, allowHalfOpen: false });
    this.peerReads = options.peerReads;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.peerReads) {
      this.taken.push(chunk);
      callback();
    } else {
      this.held.push({ chunk, callback });
    }
  }

  /** The client sends bytes. */
  send(bytes: string | Buffer): void {
    this.push(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  }

  /** The peer starts reading: everything held is taken, and so is whatever comes next. */
  startReading(): void {
    this.peerReads = true;
    for (const { chunk, callback } of this.held.splice(0)) {
      this.taken.push(chunk);
      callback();
    }
  }

  /** What the peer has read so far, as text. */
  received(): string {
    return Buffer.concat(this.taken).toString('latin1');
  }
}

function connection(
  socket: FakeSocket,
  options: Partial<ClientConnectionOptions> = {},
): { conn: ClientConnection; limits: ClientLimitReason[] } {
  const limits: ClientLimitReason[] = [];
  const conn = new ClientConnection({
    socket,
    id: 'c1',
    listenPassword: '',
    logger: silent,
    commands: new Map(),
    onSyncRequest: () => Promise.resolve('not in this test'),
    onLimit: (reason) => limits.push(reason),
    ...options,
  });
  return { conn, limits };
}

const pings = (count: number): string => 'PING\r\n'.repeat(count);
const count = (text: string, word: string): number => text.split(word).length - 1;

describe('client connection: reading follows draining', () => {
  test('stops reading while its replies are not drained, and reads on once they are', async () => {
    const socket = new FakeSocket({ peerReads: false });
    const { conn } = connection(socket);
    // 200 PONGs are 1400 bytes, over the socket's 1024-byte high-water mark.
    socket.send(pings(200));
    await waitFor(() => conn.stats().paused, { what: 'reading to pause' });
    socket.send(pings(300));
    // Give the connection every chance to read on: it must not.
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(socket.readableLength > 0, 'the second batch stays unread in the socket');
    assert.ok(conn.stats().paused);
    assert.ok(conn.stats().outputBytes >= 1400, 'the first batch is waiting for the peer');

    socket.startReading();
    await waitFor(() => count(socket.received(), '+PONG') === 500, {
      what: 'every PING answered once the peer reads',
    });
    await waitFor(() => !conn.stats().paused, { what: 'reading to resume' });
    assert.equal(socket.readableLength, 0);
    assert.equal(socket.destroyed, false);
  });

  test('a client whose one read asks for more than the output limit is closed', async () => {
    const socket = new FakeSocket({ peerReads: false });
    const { limits } = connection(socket, { outputLimitBytes: 4096 });
    socket.send(pings(1000));
    await waitFor(() => socket.destroyed, { what: 'the connection to be closed' });
    assert.deepEqual(limits, ['output-limit']);
  });
});

describe('client connection: bounded input', () => {
  test('an incomplete command over the query buffer limit is a protocol error', async () => {
    const socket = new FakeSocket({ peerReads: true });
    const { limits } = connection(socket);
    const half = Math.ceil(CLIENT_MAX_QUERY_BYTES / 2) + 1;
    socket.send(`*3\r\n$4\r\nPING\r\n$${half}\r\n`);
    socket.send(Buffer.alloc(half, 0x61));
    socket.send(`\r\n$${half}\r\n`);
    socket.send(Buffer.alloc(half - 1, 0x61));
    await waitFor(() => socket.received().startsWith('-ERR Protocol error: '), {
      what: 'a protocol error',
    });
    assert.match(socket.received(), /query buffer limit/);
    assert.deepEqual(limits, ['query-limit']);
    await waitFor(() => socket.writableEnded, { what: 'the connection to be ended' });
  });

  test(`with a password, the command after ${UNAUTHENTICATED_MAX_COMMANDS} without AUTH closes it`, async () => {
    const socket = new FakeSocket({ peerReads: true });
    const { limits } = connection(socket, { listenPassword: 'secret' });
    socket.send('a\n'.repeat(10_000));
    await waitFor(() => socket.writableEnded, { what: 'the connection to be ended' });
    const text = socket.received();
    assert.equal(count(text, '-NOAUTH Authentication required.\r\n'), UNAUTHENTICATED_MAX_COMMANDS);
    assert.match(text, /-NOAUTH Authentication required: .*closing the connection\r\n$/);
    assert.deepEqual(limits, ['unauthenticated-commands']);
  });
});

describe('client connection: auth deadline and wrong passwords', () => {
  test('no AUTH before the deadline: an error and the connection ended', async () => {
    const socket = new FakeSocket({ peerReads: true });
    const { limits } = connection(socket, { listenPassword: 'secret', authTimeoutMs: 20 });
    socket.send('PING\r\n'); // a valid command, but not AUTH: the deadline stands
    await waitFor(() => socket.writableEnded, { what: 'the connection to be ended' });
    assert.match(socket.received(), /-ERR rbuddy: no AUTH within 20 ms/);
    assert.deepEqual(limits, ['auth-timeout']);
  });

  test('without a password, a first valid command meets the deadline', async () => {
    const socket = new FakeSocket({ peerReads: true });
    const { conn } = connection(socket, { authTimeoutMs: 60_000 });
    assert.equal(conn.stats().awaitingAuth, true);
    socket.send('FOO\r\n'); // unknown: not valid
    await waitFor(() => socket.received().startsWith('-ERR unknown command'), { what: 'an error' });
    assert.equal(conn.stats().awaitingAuth, true);
    socket.send('PING\r\n');
    await waitFor(() => socket.received().endsWith('+PONG\r\n'), { what: 'PONG' });
    assert.equal(conn.stats().awaitingAuth, false, 'the deadline no longer runs');
  });

  test('commands pipelined after AUTH are judged by its outcome, even when AUTH waits', async () => {
    let now = 0;
    const throttle = new AuthThrottle({ baseDelayMs: 5, now: () => now });
    for (const waits of [false, true]) {
      if (waits) throttle.recordFailure('127.0.0.1');
      assert.equal(throttle.delayFor('127.0.0.1') > 0, waits);
      const socket = new FakeSocket({ peerReads: true });
      connection(socket, { listenPassword: 'secret', authThrottle: throttle });
      socket.send('AUTH secret\r\nPING\r\nREPLCONF listening-port 6380\r\n');
      await waitFor(() => socket.received() === '+OK\r\n+PONG\r\n+OK\r\n', {
        what: `every reply in order (AUTH waits: ${waits})`,
        explain: () => JSON.stringify(socket.received()),
      });
    }
    now += 1;
  });

  test('pipelined wrong passwords: five refused, then closed, the right one never checked', async () => {
    let now = 0;
    const throttle = new AuthThrottle({ baseDelayMs: 1, maxDelayMs: 4, now: () => now });
    const socket = new FakeSocket({ peerReads: true });
    const { limits } = connection(socket, { listenPassword: 'secret', authThrottle: throttle });
    // Pipelined guesses, the right one last: it is never looked at.
    socket.send('AUTH a\r\nAUTH b\r\nAUTH c\r\nAUTH d\r\nAUTH e\r\nAUTH secret\r\n');
    await waitFor(() => socket.writableEnded, { what: 'the connection to be ended' });
    const text = socket.received();
    assert.equal(count(text, '-WRONGPASS'), 5);
    assert.equal(count(text, '+OK'), 0);
    assert.match(text, /-ERR rbuddy: 5 wrong passwords/);
    assert.deepEqual(limits, ['auth-failures']);
    now += 1;
    assert.equal(throttle.delayFor('127.0.0.1'), 4, 'the peer IP waits the longest now');
  });
});

describe('client connection: the input budget shared by every connection', () => {
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  test('past the budget the connection holding the most gets -ERR and is closed, not the one that read', async () => {
    const budget = new InputBudget<ClientConnection>(1000);
    const [big, small] = [new FakeSocket({ peerReads: true }), new FakeSocket({ peerReads: true })];
    const attacker = connection(big, { id: 'c1', inputBudget: budget });
    const replica = connection(small, { id: 'c2', inputBudget: budget });
    big.send(`*1\r\n$100000\r\n${'a'.repeat(960)}`);
    await flush();
    assert.equal(budget.status().heldBytes, attacker.conn.stats().inputBytes);
    const handshake = '*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n6380\r\n';
    small.send(handshake.slice(0, 45));
    await waitFor(() => big.received().startsWith('-ERR rbuddy: '), { what: 'the -ERR' });
    assert.match(big.received(), /input budget of 1000 bytes/);
    assert.deepEqual(attacker.limits, ['input-budget']);
    assert.equal(attacker.conn.stats().inputBytes, 0, 'its incomplete command is dropped');
    assert.deepEqual(budget.status().heldBytes, 45);
    small.send(handshake.slice(45));
    await waitFor(() => small.received() === '+OK\r\n', { what: "the replica's +OK" });
    assert.deepEqual(replica.limits, []);
    assert.equal(budget.status().heldBytes, 0);
    await waitFor(() => big.destroyed, { what: "the attacker's connection to close" });
  });

  test('never drifts: random reads, completed commands and closes on real connections (property)', async () => {
    const count = 4;
    const op = fc.record({
      kind: fc.constantFrom('read', 'read', 'complete', 'close'),
      who: fc.nat(count - 1),
      bytes: fc.integer({ min: 1, max: 400 }),
    });
    // One command: an unknown command's name as a 300-byte bulk (answered, the connection kept).
    const command = Buffer.from(`*1\r\n$300\r\n${'x'.repeat(300)}\r\n`);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 1500 }),
        fc.array(op, { maxLength: 40 }),
        async (limit, ops) => {
          const budget = new InputBudget<ClientConnection>(limit);
          const peers = Array.from({ length: count }, (_, i) => {
            const socket = new FakeSocket({ peerReads: true });
            return { socket, sent: 0, ...connection(socket, { id: `c${i}`, inputBudget: budget }) };
          });
          const check = (): void => {
            let sum = 0;
            for (const peer of peers) {
              const held = peer.conn.stats().inputBytes;
              assert.equal(
                budget.heldBy(peer.conn),
                held,
                `${peer.conn.id} as the budget counts it`,
              );
              sum += held;
            }
            assert.equal(budget.status().heldBytes, sum);
            assert.ok(sum <= limit, `held ${sum} over the limit ${limit}`);
          };
          for (const step of ops) {
            const peer = peers[step.who];
            if (peer === undefined || peer.socket.destroyed || peer.socket.writableEnded) continue;
            if (step.kind === 'close') {
              peer.socket.destroy();
            } else {
              const end = step.kind === 'complete' ? command.length : peer.sent + step.bytes;
              const piece = command.subarray(peer.sent, Math.min(end, command.length));
              peer.sent = (peer.sent + piece.length) % command.length;
              peer.socket.send(piece);
            }
            await flush();
            check();
          }
          for (const peer of peers) peer.socket.destroy();
          await flush();
          check();
          assert.equal(budget.status().heldBytes, 0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
