// RESP3 on rbuddy's port: the encoders' RESP3 forms (and their RESP2 folds), HELLO 3 switching a
// real ClientConnection over TCP, pub/sub as push messages, and the Sentinel failover messages
// published around a switch.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { PubSubHub } from '../../src/discovery/pubsub-hub.js';
import { discoveryCommands, type DiscoveryView } from '../../src/discovery/sentinel-commands.js';
import { failoverMessages } from '../../src/discovery/sentinel-events.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { ClientConnection } from '../../src/proxy/client-connection.js';
import { encode, RespAggregate, RespMap, RespSimple, RespVerbatim } from '../../src/resp/encode.js';
import { Resp3Client, type Typed } from '../helpers/resp3-client.js';

const silent = pino({ level: 'silent' });
const text = (b: Buffer): string => b.toString('latin1');

describe('RESP3 encoders', () => {
  it('keeps maps, sets, pushes, verbatim strings and null in RESP3, folds them in RESP2', () => {
    const value = [
      new RespMap([['a', 1]]),
      new RespAggregate('set', [new RespSimple('fast')]),
      new RespAggregate('push', ['message', 'c', 'm']),
      new RespVerbatim('x=1\n'),
      null,
    ];
    assert.equal(
      text(encode(value, 3)),
      '*5\r\n%1\r\n$1\r\na\r\n:1\r\n~1\r\n+fast\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n=8\r\ntxt:x=1\n\r\n_\r\n',
    );
    assert.equal(
      text(encode(value)),
      '*5\r\n*2\r\n$1\r\na\r\n:1\r\n*1\r\n+fast\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n$4\r\nx=1\n\r\n$-1\r\n',
    );
  });
});

describe('Sentinel failover messages', () => {
  const addresses = {
    group: 'g',
    previous: { host: '10.0.0.5', port: '6379' },
    next: { host: '10.0.0.6', port: '6380' },
  };
  it('a master-loss failover: +sdown … -odown, +failover-end, +switch-master, in sentinel.c formats', () => {
    const messages = failoverMessages(addresses, { epoch: 3, myid: 'abc', unplanned: true });
    const master = 'master g 10.0.0.5 6379';
    const promoted = 'slave 10.0.0.6:6380 10.0.0.6 6380 @ g 10.0.0.5 6379';
    assert.deepEqual(messages.slice(0, 4), [
      ['+sdown', master],
      ['+odown', `${master} #quorum 1/1`],
      ['+new-epoch', '3'],
      ['+try-failover', master],
    ]);
    assert.deepEqual(
      messages.find(([channel]) => channel === '+promoted-slave'),
      ['+promoted-slave', promoted],
    );
    assert.deepEqual(
      messages.find(([channel]) => channel === '+vote-for-leader'),
      ['+vote-for-leader', 'abc 3'],
    );
    assert.deepEqual(messages.slice(-3), [
      ['-odown', master],
      ['+failover-end', master],
      ['+switch-master', 'g 10.0.0.5 6379 10.0.0.6 6380'],
    ]);
    const channels = messages.map(([channel]) => channel);
    for (const needed of [
      '+elected-leader',
      '+selected-slave',
      '+slave-reconf-sent',
      '+slave-reconf-inprog',
      '+slave-reconf-done',
    ]) {
      assert.ok(channels.includes(needed), needed);
    }
  });

  it('a planned switch starts at +new-epoch and has no down state', () => {
    const channels = failoverMessages(addresses, { epoch: 1, myid: 'abc', unplanned: false }).map(
      ([channel]) => channel,
    );
    assert.equal(channels[0], '+new-epoch');
    assert.ok(!channels.some((c) => /^[-+][os]down$/.test(c)));
    assert.equal(channels.at(-1), '+switch-master');
  });
});

describe('RESP3 on the port', () => {
  let server: Server;
  let port: number;
  let hub: PubSubHub;
  const clients: Resp3Client[] = [];
  const view: DiscoveryView = {
    group: 'g',
    master: { host: '10.0.0.2', port: 6379 },
    nodes: [
      { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 },
      { id: '10.0.0.6:6380', host: '10.0.0.6', port: 6380 },
    ],
    roles: () => ({ active: '10.0.0.5:6379', standby: '10.0.0.6:6380' }),
    myid: 'f'.repeat(40),
  };
  before(async () => {
    hub = new PubSubHub({ logger: silent, sentinelId: view.myid });
    const commands = discoveryCommands({ view, hub, logger: silent });
    let next = 0;
    server = createServer((socket) => {
      new ClientConnection({
        socket,
        id: `c${++next}`,
        listenPassword: '',
        logger: silent,
        commands,
        onSyncRequest: () => Promise.resolve('not in this test'),
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    port = address.port;
  });
  after(() => {
    for (const c of clients) c.close();
    server.close();
  });
  const connect = async (): Promise<Resp3Client> => {
    const c = await Resp3Client.connect('127.0.0.1', port);
    clients.push(c);
    return c;
  };
  const keys = (reply: Typed): string[] => {
    assert.equal(reply.type, 'map');
    return reply.type === 'map'
      ? reply.entries.map(([k]) => ('value' in k ? String(k.value) : '?'))
      : [];
  };

  it('HELLO 3 answers a map and switches the connection; HELLO 2 switches back', async () => {
    const c = await connect();
    const hello = await c.command('HELLO', '3', 'SETNAME', 'r3');
    assert.deepEqual(keys(hello), ['server', 'version', 'proto', 'id', 'mode', 'modules']);
    const masters = await c.command('SENTINEL', 'masters');
    assert.equal(masters.type, 'array');
    assert.equal(masters.type === 'array' ? masters.items[0]?.type : '', 'map');
    assert.deepEqual(await c.command('SENTINEL', 'get-master-addr-by-name', 'nope'), {
      type: 'null',
    });
    assert.equal((await c.command('CLIENT', 'INFO')).type, 'verbatim');
    assert.deepEqual(await c.command('CLIENT', 'GETNAME'), { type: 'bulk', value: 'r3' });
    const two = await c.command('HELLO', '2');
    assert.equal(two.type, 'array');
    // RESP2's null array (`*-1`), as redis-sentinel answers, not the null bulk.
    assert.deepEqual(await c.command('SENTINEL', 'get-master-addr-by-name', 'nope'), {
      type: 'null-array',
    });
    assert.equal((await c.command('SENTINEL', 'master', 'g')).type, 'array');
  });

  it('pub/sub in RESP3: confirmations and messages are pushes, other commands still answered', async () => {
    const c = await connect();
    await c.command('HELLO', '3');
    const confirm = await c.command('PSUBSCRIBE', '*');
    assert.equal(confirm.type, 'push');
    assert.deepEqual(await c.command('PING'), { type: 'simple', value: 'PONG' });
    assert.equal((await c.command('SENTINEL', 'myid')).type, 'bulk');
    const event: RbuddyEvent = {
      id: 'e1',
      type: 'failover.completed',
      timestamp: '2026-01-01T00:00:00Z',
      group: 'g',
      epoch: 2,
      data: {
        active: '10.0.0.6:6380',
        standby: '10.0.0.5:6379',
        master: 'm:1',
        previousActive: '10.0.0.5:6379',
      },
    };
    hub.sink('rb').deliver(event);
    const seen: string[] = [];
    for (;;) {
      const push = await c.next();
      assert.equal(push.type, 'push');
      const channel = push.type === 'push' ? push.items[2] : undefined;
      seen.push(channel !== undefined && 'value' in channel ? String(channel.value) : '?');
      if (seen.at(-1) === '+switch-master') break;
    }
    assert.deepEqual(seen.slice(0, 3), ['rb', '+new-epoch', '+try-failover']);
    assert.ok(seen.includes('+slave-reconf-done') && seen.includes('+failover-end'));
  });
});
