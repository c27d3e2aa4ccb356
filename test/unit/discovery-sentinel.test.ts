// The Sentinel subset and connection commands on the RESP port, through a real ClientConnection
// over TCP (so subscribed mode, AUTH via HELLO and reply ordering are exercised as clients see them).
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { PubSubHub } from '../../src/discovery/pubsub-hub.js';
import { SentinelReplies } from '../../src/discovery/sentinel-replies.js';
import { encode, RespMap, type RespValue } from '../../src/resp/encode.js';
import { discoveryCommands, type DiscoveryView } from '../../src/discovery/sentinel-commands.js';
import { ClientConnection } from '../../src/proxy/client-connection.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../../harness/wait-for.js';

const silent = pino({ level: 'silent' });
const nodes = [
  { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 },
  { id: '10.0.0.6:6380', host: '10.0.0.6', port: 6380 },
] as const;
let roles: { active: string; standby: string } | undefined = {
  active: '10.0.0.5:6379',
  standby: '10.0.0.6:6380',
};
const view: DiscoveryView = {
  group: 'mygroup',
  master: { host: '10.0.0.2', port: 6379 },
  nodes,
  roles: () => roles,
};

interface Harness {
  server: Server;
  port: number;
  hub: PubSubHub;
}

async function listen(password: string, outputLimitBytes?: number): Promise<Harness> {
  const hub = new PubSubHub({ logger: silent, outputLimitBytes });
  const commands = discoveryCommands({ view, hub, logger: silent });
  let next = 0;
  const server = createServer((socket) => {
    new ClientConnection({
      socket,
      id: `c${++next}`,
      listenPassword: password,
      logger: silent,
      commands,
      onSyncRequest: () => Promise.resolve('not in this test'),
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port, hub };
}

/** Field/value array → object, as clients read Sentinel replies. */
function fields(reply: unknown): Record<string, string> {
  assert.ok(Array.isArray(reply));
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

describe('discovery commands', () => {
  let open: Harness;
  let locked: Harness;
  const clients: RawClient[] = [];
  const client = async (harness: Harness): Promise<RawClient> => {
    const raw = await RawClient.connect('127.0.0.1', harness.port);
    clients.push(raw);
    return raw;
  };
  before(async () => {
    open = await listen('');
    locked = await listen('s3cret');
  });
  after(() => {
    for (const raw of clients) raw.close();
    open.server.close();
    locked.server.close();
  });

  it('closes a real subscriber that stops reading once its output passes the limit', async () => {
    const limited = await listen('', 256 * 1024);
    try {
      const reading = await client(limited);
      assert.deepEqual(await reading.command('SUBSCRIBE', 'ch'), ['subscribe', 'ch', 1]);
      const stalled = connect({ host: '127.0.0.1', port: limited.port });
      const closed = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
      stalled.on('error', () => undefined);
      let confirmed = '';
      stalled.on('data', (chunk: Buffer) => {
        confirmed += chunk.toString('latin1');
        // Confirmation seen: from now on this client reads nothing.
        if (confirmed.includes(':1\r\n')) stalled.pause();
      });
      stalled.write('*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n');
      await waitFor(() => limited.hub.subscriberCount === 2, { what: 'both subscribed' });
      const payload = 'x'.repeat(64 * 1024);
      // Kernel buffers absorb the first megabytes; keep publishing until the proxy gives up.
      await waitFor(
        async () => {
          // Small bursts (under the limit) so the client that does read never falls behind.
          for (let i = 0; i < 2; i++) limited.hub.publish('ch', payload);
          return Promise.resolve(limited.hub.dropped === 1);
        },
        { what: 'the stalled subscriber to be dropped', timeoutMs: 60_000 },
      );
      // Reading again, the stalled client finds the queued data end: the proxy closed it.
      stalled.removeAllListeners('data');
      stalled.resume();
      await closed;
      assert.equal(limited.hub.subscriberCount, 1, 'the reading subscriber stays');
      assert.equal(limited.hub.publish('ch', 'after'), 1);
    } finally {
      limited.server.close();
    }
  });

  it('SENTINEL get-master-addr-by-name answers the active, null for another group', async () => {
    const c = await client(open);
    assert.deepEqual(await c.command('SENTINEL', 'get-master-addr-by-name', 'mygroup'), [
      '10.0.0.5',
      '6379',
    ]);
    // A null array on the wire (RESP2 `*-1`); the raw bytes are checked below.
    assert.equal(await c.command('SENTINEL', 'get-master-addr-by-name', 'other'), null);
    roles = { active: '10.0.0.6:6380', standby: '10.0.0.5:6379' };
    try {
      assert.deepEqual(await c.command('sentinel', 'GET-MASTER-ADDR-BY-NAME', 'mygroup'), [
        '10.0.0.6',
        '6380',
      ]);
      roles = undefined;
      assert.equal(await c.command('SENTINEL', 'get-master-addr-by-name', 'mygroup'), null);
    } finally {
      roles = { active: '10.0.0.5:6379', standby: '10.0.0.6:6380' };
    }
  });

  it('SENTINEL replicas/slaves lists the active flagged slave; masters/master/sentinels are valid', async () => {
    const c = await client(open);
    for (const sub of ['replicas', 'slaves']) {
      const reply = await c.command('SENTINEL', sub, 'mygroup');
      assert.ok(Array.isArray(reply) && reply.length === 1);
      const replica = fields(reply[0]);
      assert.equal(replica.ip, '10.0.0.5');
      assert.equal(replica.port, '6379');
      assert.equal(replica.flags, 'slave');
      assert.equal(replica['master-link-status'], 'ok');
      assert.equal(replica.name, '10.0.0.5:6379');
    }
    const masters = await c.command('SENTINEL', 'masters');
    assert.ok(Array.isArray(masters) && masters.length === 1);
    assert.deepEqual(
      { ...fields(masters[0]) },
      { ...fields(await c.command('SENTINEL', 'master', 'mygroup')) },
    );
    const master = fields(masters[0]);
    assert.equal(master.name, 'mygroup');
    assert.equal(master.ip, '10.0.0.5');
    assert.equal(master.port, '6379');
    assert.equal(master.flags, 'master');
    assert.deepEqual(await c.command('SENTINEL', 'sentinels', 'mygroup'), []);
    for (const sub of ['master', 'replicas', 'sentinels']) {
      const error = await c.command('SENTINEL', sub, 'nope');
      assert.ok(error instanceof Error && error.message === 'ERR No such master with that name');
    }
    const unknown = await c.command('SENTINEL', 'frobnicate');
    assert.ok(unknown instanceof Error && /unknown subcommand 'frobnicate'/.test(unknown.message));
  });

  it('CLIENT SETINFO/SETNAME/GETNAME behave as in Redis', async () => {
    const c = await client(open);
    assert.equal(await c.command('CLIENT', 'GETNAME'), null);
    assert.equal(await c.command('CLIENT', 'SETINFO', 'LIB-NAME', 'ioredis'), 'OK');
    assert.equal(await c.command('CLIENT', 'SETINFO', 'lib-ver', '5.0'), 'OK');
    const bad = await c.command('CLIENT', 'SETINFO', 'color', 'red');
    assert.ok(bad instanceof Error);
    assert.equal(await c.command('CLIENT', 'SETNAME', 'app-1'), 'OK');
    assert.equal(await c.command('CLIENT', 'GETNAME'), 'app-1');
    const spaced = await c.command('CLIENT', 'SETNAME', 'a b');
    assert.ok(spaced instanceof Error);
    assert.equal(await c.command('CLIENT', 'GETNAME'), 'app-1');
  });

  it('HELLO answers a RESP2 map-as-array, refuses protocol 4, and can authenticate', async () => {
    const c = await client(open);
    const hello = fields(await c.command('HELLO'));
    assert.equal(hello.proto, '2');
    assert.equal(hello.mode, 'sentinel');
    assert.equal(hello.server, 'redis');
    assert.equal(hello.role, undefined, 'a Sentinel sends no role in HELLO');
    const four = await c.command('HELLO', '4');
    assert.ok(four instanceof Error && four.message.startsWith('NOPROTO'));
    assert.equal(fields(await c.command('HELLO', '2', 'SETNAME', 'n1')).proto, '2');
    assert.equal(await c.command('CLIENT', 'GETNAME'), 'n1');

    const guarded = await client(locked);
    const noauth = await guarded.command('SENTINEL', 'masters');
    assert.ok(noauth instanceof Error && noauth.message.startsWith('NOAUTH'));
    const plainHello = await guarded.command('HELLO', '2');
    assert.ok(plainHello instanceof Error && plainHello.message.startsWith('NOAUTH'));
    const wrong = await guarded.command('HELLO', '2', 'AUTH', 'default', 'nope');
    assert.ok(wrong instanceof Error && wrong.message.startsWith('WRONGPASS'));
    assert.equal(
      fields(await guarded.command('HELLO', '2', 'AUTH', 'default', 's3cret')).proto,
      '2',
    );
    assert.ok(Array.isArray(await guarded.command('SENTINEL', 'masters')));
  });

  it('AUTH and HELLO … AUTH take users as a Sentinel with a nopass default user does', async () => {
    const c = await client(open);
    const bare = await c.command('AUTH', 'x');
    assert.ok(bare instanceof Error && bare.message.includes('without any password configured'));
    // The default user is nopass: any password is accepted for it, by name.
    assert.equal(await c.command('AUTH', 'default', 'x'), 'OK');
    assert.equal(fields(await c.command('HELLO', '2', 'AUTH', 'default', 'x')).proto, '2');
    const stranger = await c.command('AUTH', 'bob', 'x');
    assert.ok(stranger instanceof Error && stranger.message.startsWith('WRONGPASS'));

    const guarded = await client(locked);
    const other = await guarded.command('HELLO', '2', 'AUTH', 'bob', 's3cret');
    assert.ok(other instanceof Error && other.message.startsWith('WRONGPASS'));
    const otherAuth = await guarded.command('AUTH', 'bob', 's3cret');
    assert.ok(otherAuth instanceof Error && otherAuth.message.startsWith('WRONGPASS'));
    const noauth = await guarded.command('SENTINEL', 'masters');
    assert.ok(noauth instanceof Error && noauth.message.startsWith('NOAUTH'));
    assert.equal(await guarded.command('AUTH', 'default', 's3cret'), 'OK');
  });

  it('subscribed mode: pushes, PING as pong array, other commands refused, UNSUBSCRIBE leaves it', async () => {
    const c = await client(open);
    assert.deepEqual(await c.command('SUBSCRIBE', 'rbuddy'), ['subscribe', 'rbuddy', 1]);
    c.send('*2\r\n$10\r\nPSUBSCRIBE\r\n$3\r\n+s*\r\n');
    assert.deepEqual(await c.nextReply(), ['psubscribe', '+s*', 2]);
    assert.deepEqual(await c.command('PING'), ['pong', '']);
    assert.deepEqual(await c.command('PING', 'hi'), ['pong', 'hi']);
    const refused = await c.command('SENTINEL', 'masters');
    assert.ok(refused instanceof Error);
    assert.match(refused.message, /^ERR Can't execute 'sentinel\|masters': only \(P\|S\)SUBSCRIBE/);
    // Unknown here is unknown in any mode, as Sentinel answers RESET (not a refusal listing it).
    const reset = await c.command('RESET');
    assert.ok(reset instanceof Error);
    assert.match(reset.message, /^ERR unknown command 'RESET'/);

    assert.equal(open.hub.publish('rbuddy', '{"x":1}'), 1);
    assert.deepEqual(await c.nextReply(), ['message', 'rbuddy', '{"x":1}']);
    open.hub.publish('+switch-master', 'mygroup a 1 b 2');
    assert.deepEqual(await c.nextReply(), ['pmessage', '+s*', '+switch-master', 'mygroup a 1 b 2']);

    assert.deepEqual(await c.command('UNSUBSCRIBE'), ['unsubscribe', 'rbuddy', 1]);
    assert.deepEqual(await c.command('PUNSUBSCRIBE', '+s*'), ['punsubscribe', '+s*', 0]);
    assert.equal(await c.command('PING'), 'PONG');
    assert.ok(Array.isArray(await c.command('SENTINEL', 'masters')));
    const noArgs = await c.command('SUBSCRIBE');
    assert.ok(noArgs instanceof Error && /wrong number of arguments/.test(noArgs.message));
  });
});

describe('Sentinel replies: null types and run ids as redis-sentinel sends them', () => {
  const replies = (extra: Partial<DiscoveryView>): SentinelReplies =>
    new SentinelReplies({ ...view, ...extra });
  const args = (...words: string[]): Buffer[] => words.map((word) => Buffer.from(word));
  const wire = async (reply: RespValue | Promise<RespValue>, protocol: 2 | 3): Promise<string> =>
    encode(await reply, protocol).toString();

  it('GET-MASTER-ADDR-BY-NAME of an unknown name is a null array (*-1), `_` in RESP3', async () => {
    const sentinel = replies({});
    const unknown = sentinel.reply(args('SENTINEL', 'get-master-addr-by-name', 'other'));
    assert.equal(await wire(unknown, 2), '*-1\r\n');
    assert.equal(await wire(unknown, 3), '_\r\n');
  });

  it('INFO-CACHE with nothing cached is [age, null] per instance, as sentinelInfoCacheCommand', async () => {
    const sentinel = replies({ nodeInfo: () => Promise.reject(new Error('down')) });
    const text = await wire(sentinel.reply(args('SENTINEL', 'info-cache', 'mygroup')), 2);
    assert.match(
      text,
      /^\*2\r\n\$7\r\nmygroup\r\n\*2\r\n\*2\r\n:\d+\r\n\$-1\r\n\*2\r\n:\d+\r\n\$-1\r\n$/,
    );
  });

  it('MASTER, MASTERS, REPLICAS and SLAVES report the run id rbuddy last read, empty if unknown', () => {
    const runId = 'a'.repeat(40);
    const known = replies({ runId: (node) => (node.id === '10.0.0.5:6379' ? runId : undefined) });
    const runIdOf = (reply: RespValue | Promise<RespValue>): string => {
      assert.ok(reply instanceof RespMap);
      const value = reply.entries.find(([field]) => field === 'runid')?.[1];
      assert.ok(typeof value === 'string');
      return value;
    };
    const first = (reply: RespValue | Promise<RespValue>): RespValue => {
      assert.ok(Array.isArray(reply));
      const list = reply as RespValue[];
      return list[0] ?? null;
    };
    assert.equal(runIdOf(known.reply(args('SENTINEL', 'master', 'mygroup'))), runId);
    assert.equal(runIdOf(first(known.reply(args('SENTINEL', 'masters')))), runId);
    assert.equal(runIdOf(first(known.reply(args('SENTINEL', 'replicas', 'mygroup')))), runId);
    assert.equal(runIdOf(first(known.reply(args('SENTINEL', 'slaves', 'mygroup')))), runId);
    const unknown = replies({ runId: () => undefined });
    assert.equal(runIdOf(unknown.reply(args('SENTINEL', 'master', 'mygroup'))), '');
  });
});
