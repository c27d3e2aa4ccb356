// The admin port's limits (docs/design.md, "Limits and trust") on the real CLI: whatever a client
// sends, the process answers 4xx and keeps serving. Raw bytes over a socket: a request target
// `new URL()` cannot parse (it once became an unhandled rejection that ended rbuddy), oversize
// headers (431) and any body (413, unread), headers sent too slowly (408, closed), connections past
// --http-max-connections (the oldest idle one closed to make room), and, while reads need no token,
// Host names that are not this listener's (421: DNS rebinding). The replicas are unreachable on
// purpose: the admin API must not depend on them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, terminate } from '../../harness/processes.js';
import { RawHttpConnection } from '../helpers/raw-http.js';
import { waitFor } from '../../harness/wait-for.js';
import { spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';

const TOKEN = 'limits-t0ken-value';
const dirs: string[] = [];
const started: RbuddyProcess[] = [];

async function start(args: string[]): Promise<RbuddyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-admin-limits-'));
  dirs.push(dir);
  const [master, active, standby] = await Promise.all([freePort(), freePort(), freePort()]);
  const rbuddy = await spawnRbuddy([
    ...['--master', `127.0.0.1:${master}`, '--active', `127.0.0.1:${active}`],
    ...['--standby', `127.0.0.1:${standby}`, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'],
    ...['--state-dir', join(dir, 'state'), '--probe-interval-ms', '5000'],
    ...args,
  ]);
  started.push(rbuddy);
  return rbuddy;
}

after(async () => {
  await Promise.all(started.map((rbuddy) => terminate(rbuddy.child)));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The process is up and its admin API answers: the check after every attack. */
async function assertServing(rbuddy: RbuddyProcess): Promise<void> {
  assert.equal(rbuddy.child.exitCode, null, `rbuddy exited: ${rbuddy.stderr()}`);
  const health = await fetch(`${rbuddy.httpUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(health.status, 200);
  assert.ok(
    !rbuddy.logs().some((line) => line.level === 'fatal'),
    'nothing reached the crash handler',
  );
}

function get(path: string, host: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;
}

describe('admin API limits', () => {
  let rbuddy: RbuddyProcess;
  let port: string;

  before(async () => {
    rbuddy = await start([
      '--http-request-timeout-ms',
      '500',
      '--http-allowed-hosts',
      'rbuddy.test',
    ]);
    port = new URL(rbuddy.httpUrl).port;
  });

  test('a request target URL() cannot parse gets 400, and the process keeps serving', async () => {
    for (const target of ['http://[', 'http://[::1', 'http://a b/', 'http://:99999/']) {
      const reply = await RawHttpConnection.exchange(
        rbuddy.httpUrl,
        get(target, `127.0.0.1:${port}`),
      );
      assert.equal(reply.status(), 400, `${target}: ${reply.text()}`);
      await assertServing(rbuddy);
    }
  });

  test('malformed requests get 400 from the parser, and the process keeps serving', async () => {
    const malformed = [
      'GARBAGE\r\n\r\n',
      '\u0000\u0001\u0002 / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n', // HTTP/1.1 without Host
      `POST /v1/failover HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n`,
    ];
    for (const bytes of malformed) {
      const reply = await RawHttpConnection.exchange(rbuddy.httpUrl, bytes);
      assert.equal(reply.status(), 400, `${JSON.stringify(bytes)}: ${reply.text()}`);
      await assertServing(rbuddy);
    }
  });

  test('a stranger pipelining requests without reading is closed, not answered 5,000 times', async () => {
    // Reviewer R11d, D1: 20 connections pipelining 10,000 GET /metrics each, never reading,
    // blocked the event loop, took rbuddy to 1.9 GB and cost the active its session.
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const request = `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
    socket.write(request.repeat(5_000));
    await waitFor(
      () =>
        rbuddy
          .logs()
          .some(
            (line) => line.msg === 'admin connection closed: more requests pipelined than answered',
          ),
      { what: 'the warning' },
    );
    await assertServing(rbuddy);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await closed;
    const answers = Buffer.concat(received).toString('latin1').split('HTTP/1.1 200').length - 1;
    assert.ok(answers < 5_000, `${answers} answers`);
  });

  test('headers over 16 KiB get 431', async () => {
    const reply = await RawHttpConnection.exchange(
      rbuddy.httpUrl,
      get('/healthz', '127.0.0.1', `X-Filler: ${'a'.repeat(32 * 1024)}\r\n`),
    );
    assert.equal(reply.status(), 431, reply.text());
    await assertServing(rbuddy);
  });

  test('a body gets 413 at once, declared (small or large) or streamed: no route takes one', async () => {
    const small = await RawHttpConnection.exchange(
      rbuddy.httpUrl,
      'POST /v1/failover HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}',
    );
    assert.equal(small.status(), 413, small.text());

    const declared = await RawHttpConnection.exchange(
      rbuddy.httpUrl,
      `POST /v1/failover HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${1024 * 1024}\r\n\r\n`,
    );
    assert.equal(declared.status(), 413, declared.text());

    const streamed = await RawHttpConnection.open(rbuddy.httpUrl);
    streamed.send(
      'POST /v1/failover HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    const chunk = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 5; i += 1) streamed.send(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await streamed.waitClosed('the streamed body to be refused');
    assert.equal(streamed.status(), 413, streamed.text());
    await assertServing(rbuddy);
  });

  test('a client that sends its headers too slowly, or nothing, gets 408 and is closed', async () => {
    const slow = await RawHttpConnection.open(rbuddy.httpUrl);
    slow.send('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const silent = await RawHttpConnection.open(rbuddy.httpUrl);
    // Thirty times the timeout: node:http's default sweep (every 30 s) would not make it.
    await slow.waitClosed('the slow client to be closed', 15_000);
    await silent.waitClosed('the silent client to be closed', 15_000);
    assert.equal(slow.status(), 408, slow.text());
    assert.equal(silent.status(), 408, silent.text());
    await assertServing(rbuddy);
  });

  test('unauthenticated reads answer only this listener, loopback and listed Host names', async () => {
    const status = async (path: string, host: string): Promise<number | undefined> =>
      (await RawHttpConnection.exchange(rbuddy.httpUrl, get(path, host))).status();
    // DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1.
    for (const path of ['/v1/status', '/metrics', '/active', '/standby']) {
      assert.equal(await status(path, `attacker.example:${port}`), 421, path);
      assert.equal(await status(path, 'attacker.example'), 421, path);
    }
    const refused = await RawHttpConnection.exchange(
      rbuddy.httpUrl,
      get('/v1/status', `attacker.example:${port}`),
    );
    assert.match(refused.text(), /--http-allowed-hosts/);
    assert.ok(!refused.text().includes('"state"'), 'no status in the refusal');
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      'localhost',
      `[::1]:${port}`,
      `rbuddy.test:${port}`,
      'RBUDDY.TEST',
    ]) {
      assert.equal(await status('/v1/status', host), 200, host);
    }
    // The probes answer whatever the Host, as they answer without a token.
    assert.equal(await status('/healthz', 'attacker.example'), 200);
    assert.equal(await status('/readyz', 'attacker.example'), 503);
    await assertServing(rbuddy);
    assert.ok(
      rbuddy
        .logs()
        .some((line) => line.level === 'warn' && String(line.msg).includes('unknown Host header')),
      'the refusal is logged',
    );
  });
});

describe('admin API connection cap, and --http-auth-reads', () => {
  let rbuddy: RbuddyProcess;

  before(async () => {
    rbuddy = await start([
      '--http-max-connections',
      '3',
      // Long, so that the connections held below stay for the whole test.
      '--http-request-timeout-ms',
      '600000',
      '--http-token',
      TOKEN,
      '--http-auth-reads',
    ]);
  });

  test('past --http-max-connections the oldest idle connection makes room: idle holders cannot lock probes out', async () => {
    // Found by review: with the newest connection dropped at the cap, anyone holding the slots
    // open (re-opening them as they time out) kept /healthz unreachable.
    const held: RawHttpConnection[] = [];
    for (let i = 0; i < 3; i++) held.push(await RawHttpConnection.open(rbuddy.httpUrl));
    for (let round = 0; round < 3; round++) {
      const reply = await RawHttpConnection.exchange(rbuddy.httpUrl, get('/healthz', '127.0.0.1'));
      assert.equal(reply.status(), 200, `round ${round}: the probe is answered`);
    }
    await held[0]?.waitClosed('the oldest idle connection to make room');
    for (const connection of held) connection.destroy();
    await assertServing(rbuddy);
  });

  test('strangers dribbling a small body hold no slot: each is answered 413 at once, unread', async () => {
    // Found by review: the body was read before the request was routed, so 64 connections each
    // sending a byte of it now and then kept every slot in flight and /active, /healthz unanswered.
    const dribblers: RawHttpConnection[] = [];
    for (let i = 0; i < 3; i++) {
      const connection = await RawHttpConnection.open(rbuddy.httpUrl);
      connection.send('POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n\r\nx');
      dribblers.push(connection);
    }
    for (const connection of dribblers) {
      await connection.waitClosed('the dribbling client to be answered and closed');
      assert.equal(connection.status(), 413, connection.text());
    }
    const reply = await RawHttpConnection.exchange(rbuddy.httpUrl, get('/healthz', '127.0.0.1'));
    assert.equal(reply.status(), 200, 'the probe is answered');
    await assertServing(rbuddy);
  });

  test('with --http-auth-reads the token decides, not the Host', async () => {
    const reply = await RawHttpConnection.exchange(
      rbuddy.httpUrl,
      get('/v1/status', 'rbuddy.internal', `Authorization: Bearer ${TOKEN}\r\n`),
    );
    assert.equal(reply.status(), 200, reply.text());
    const without = await RawHttpConnection.exchange(
      rbuddy.httpUrl,
      get('/v1/status', '127.0.0.1'),
    );
    assert.equal(without.status(), 401);
  });
});
