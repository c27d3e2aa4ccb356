// Strangers on the proxy's port: commands it does not serve get -ERR with the connection kept,
// malformed RESP gets a protocol error and a closed connection, a stranger's PSYNC is refused —
// and the real replica keeps streaming through all of it (I6, docs/design.md).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startWriter } from '../../harness/replication.js';
import { assertStreamedThroughout, startTopology, type Topology } from '../helpers/topology.js';

describe('strangers on the RESP port', () => {
  let t: Topology;
  let sessionId: string;
  let writer: ReturnType<typeof startWriter>;
  const clients: RawClient[] = [];
  const open = async (): Promise<RawClient> => {
    const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port);
    clients.push(client);
    return client;
  };

  before(async () => {
    t = await startTopology({ populate: { megabytes: 10 } });
    await t.follow(t.active);
    sessionId = (await t.waitForPhase(t.active, 'streaming')).id;
    writer = startWriter(t.master.client(), { keyPrefix: 'strangers' });
  });

  after(async () => {
    for (const client of clients) client.close();
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('an unserved command gets -ERR unknown command and the connection stays open', async () => {
    const client = await open();
    const reply = await client.command('GET', 'foo');
    assert.ok(reply instanceof Error);
    assert.match(reply.message, /^ERR unknown command 'GET', with args beginning with: 'foo'/);
    assert.equal(await client.command('PING'), 'PONG');
    assert.equal(client.closed, false);
  });

  test('random bytes get a protocol error and the connection is closed', async () => {
    const client = await open();
    // '*' followed by garbage is a malformed multibulk length.
    client.send(Buffer.concat([Buffer.from('*x'), randomBytes(64), Buffer.from('\r\n')]));
    const reply = await client.nextReply();
    assert.ok(reply instanceof Error);
    assert.match(reply.message, /^ERR Protocol error: /);
    await client.waitClosed();
  });

  test('a bulk length beyond Redis limits is malformed: protocol error, closed', async () => {
    const client = await open();
    client.send('*1\r\n$600000000\r\n');
    const reply = await client.nextReply();
    assert.ok(reply instanceof Error);
    assert.match(reply.message, /^ERR Protocol error: invalid bulk length/);
    await client.waitClosed();
  });

  test('an array length beyond Redis limits is malformed: protocol error, closed', async () => {
    const client = await open();
    client.send('*2000000\r\n');
    const reply = await client.nextReply();
    assert.ok(reply instanceof Error);
    assert.match(reply.message, /^ERR Protocol error: invalid multibulk length/);
    await client.waitClosed();
  });

  test('a stranger that tries to sync is refused and closed', async () => {
    const client = await open();
    assert.equal(await client.command('REPLCONF', 'listening-port', '1'), 'OK');
    assert.equal(await client.command('REPLCONF', 'capa', 'eof', 'capa', 'psync2'), 'OK');
    const reply = await client.command('PSYNC', '?', '-1');
    assert.ok(reply instanceof Error);
    assert.match(reply.message, /not a configured replica/);
    await client.waitClosed();
    // It never became a session: only the real replica has one.
    assert.deepEqual(
      t.rbuddy.status().sessions.map((s) => s.replica),
      [t.active.address],
    );
  });

  test('the real replica kept streaming throughout: same session, digests equal', async () => {
    await assertStreamedThroughout(t, writer, sessionId);
  });
});
