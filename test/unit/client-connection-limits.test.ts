// A client connection's bounds, driven through a fake Duplex whose "peer" reads only when the test
// says so: input is not read while replies are not drained (and is read again once they are), a
// client past its output limit is closed, and so is one past the query buffer limit, the auth
// deadline, the commands allowed before AUTH, or the wrong passwords allowed on one connection.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { AuthThrottle } from '../../src/proxy/auth-throttle.js';
import {
  ClientConnection,
  type ClientConnectionOptions,
  type ClientLimitReason,
} from '../../src/proxy/client-connection.js';
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
