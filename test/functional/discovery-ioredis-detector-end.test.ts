// ioredis's own flaw behind README's `end` handler ("Discovery"): with `failoverDetector: true`,
// a `+switch-master` that reaches the detector while the client is between two connections,
// waiting for the sentinel's `SENTINEL replicas` answer, ends the client for good
// (SentinelConnector.connect throws "Connection is closed." once the detector has disconnected the
// connector). The window is made wide here by a scripted sentinel that answers that query late;
// with rbuddy it is the moment the active dies and rbuddy announces the failover (the chaos run
// hit it). The replica is a real redis-server (ioredis checks its role). If a later ioredis no
// longer ends, the first test fails: README's note and handler can then go.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { CommandFramer } from '../../src/resp/command-framer.js';
import { encode, RespSimple } from '../../src/resp/encode.js';

const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await stopAllRedis();
});

interface ScriptedSentinel {
  port: number;
  /** Delay of the next `SENTINEL replicas` answers. */
  answerLate(ms: number): void;
  /** Queries of `SENTINEL replicas` so far. */
  readonly queries: number;
  publishSwitch(): void;
}

/** A sentinel that names `replica` as the only replica of group `rbuddy`. */
async function scriptedSentinel(replica: RedisServer): Promise<ScriptedSentinel> {
  let delayMs = 0;
  let queries = 0;
  const subscribers = new Set<Socket>();
  const sockets = new Set<Socket>();
  const answer = (args: string[]): Buffer => {
    const [name, sub] = args.map((a) => a.toLowerCase());
    if (name === 'sentinel' && (sub === 'replicas' || sub === 'slaves')) {
      const fields = ['ip', replica.host, 'port', String(replica.port), 'flags', 'slave'];
      return encode([fields]);
    }
    if (name === 'sentinel' && sub === 'sentinels') return encode([]);
    if (name === 'subscribe') return encode(['subscribe', args[1] ?? '', 1]);
    return encode(new RespSimple('OK'));
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      subscribers.delete(socket);
    });
    const framer = new CommandFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        const args = frame.args.map((a) => a.toString());
        if (args[0]?.toLowerCase() === 'subscribe') subscribers.add(socket);
        const reply = answer(args);
        if (/^(replicas|slaves)$/i.test(args[1] ?? '')) {
          queries += 1;
          if (delayMs > 0) {
            setTimeout(() => socket.write(reply), delayMs);
            continue;
          }
        }
        socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: address.port,
    answerLate: (ms) => (delayMs = ms),
    get queries() {
      return queries;
    },
    publishSwitch() {
      const message = encode(['message', '+switch-master', 'rbuddy 127.0.0.1 1 127.0.0.1 2']);
      for (const socket of subscribers) socket.write(message);
    },
  };
}

/** README's ioredis options, rbuddy's role played by the scripted sentinel. */
function readmeClient(sentinelPort: number): Redis {
  const redis = new Redis({
    sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
    name: 'rbuddy',
    role: 'slave',
    updateSentinels: false,
    failoverDetector: true,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
  });
  redis.on('error', () => undefined);
  closers.push(() => redis.disconnect());
  return redis;
}

/** The client reads, its replica dies, and the switch is announced during its reconnect. */
async function switchDuringReconnect(
  redis: Redis,
  replica: RedisServer,
  sentinel: ScriptedSentinel,
) {
  await redis.get('k');
  await waitFor(() => redis.status === 'ready', { what: 'the client ready on the replica' });
  // The detector subscribes right after the connection: wait for it.
  await waitFor(() => sentinel.queries >= 1, { what: 'the first SENTINEL replicas' });
  sentinel.answerLate(2_000);
  const before = sentinel.queries;
  await replica.kill9();
  await waitFor(() => sentinel.queries > before, { what: 'the reconnect asking the sentinel' });
  sentinel.publishSwitch();
  sentinel.answerLate(0);
  await replica.restart();
}

test('ioredis with failoverDetector ends for good on a switch announced during its reconnect', async () => {
  const master = await startRedis({ name: 'detector-master' });
  const replica = await startRedis({
    name: 'detector-replica',
    args: { replicaof: `${master.host} ${master.port}` },
  });
  const sentinel = await scriptedSentinel(replica);
  const redis = readmeClient(sentinel.port);
  await switchDuringReconnect(redis, replica, sentinel);
  await waitFor(() => redis.status === 'end', {
    what: 'the client to end',
    timeoutMs: 20_000,
    explain: () => `status ${redis.status}`,
  });
  await assert.rejects(redis.get('k'), /Connection is closed/);
});

test("README's end handler: the client connects again and reads", async () => {
  const master = await startRedis({ name: 'handler-master' });
  const replica = await startRedis({
    name: 'handler-replica',
    args: { replicaof: `${master.host} ${master.port}` },
  });
  await master.client().set('k', 'v');
  const sentinel = await scriptedSentinel(replica);
  const redis = readmeClient(sentinel.port);
  let closing = false;
  let ends = 0;
  redis.on('end', () => {
    ends += 1;
    if (!closing) redis.connect().catch(() => undefined);
  });
  closers.push(() => {
    closing = true;
  });
  await switchDuringReconnect(redis, replica, sentinel);
  await waitFor(() => ends > 0, { what: 'the client to end', timeoutMs: 20_000 });
  const value = await waitFor(() => redis.get('k'), {
    what: 'a read after the client connected again',
    timeoutMs: 20_000,
  });
  assert.equal(value, 'v');
});
