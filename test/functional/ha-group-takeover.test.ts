// Two rbuddy instances of one group, in-process, on an in-memory stand-in for etcd
// (test/helpers/fake-coordination.ts) and real redis-servers: the wiring of docs/ha.md without
// etcd's timing. The follower answers discovery from the group's state and lists the leader as a
// sentinel; when the leader leaves and the follower is elected, it points the active and the
// held standby at itself, the active continues through it (+CONTINUE: the master's sync_full
// does not move) and a reader that follows GET /active on the follower never fails a read.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from '../../harness/processes.js';
import { startReader, stopAllReaders } from '../../harness/reader.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import type { InstanceInfo } from '../../src/ha/coordination.js';
import { FakeGroup, type FakeCoordination } from '../helpers/fake-coordination.js';
import { startRbuddy, stopAllRbuddy } from '../helpers/rbuddy.js';
import { failoverTimings } from '../helpers/topology.js';

const clients: Redis[] = [];

after(async () => {
  for (const client of clients) client.disconnect();
  await stopAllReaders();
  await stopAllRbuddy();
  await stopAllRedis();
});

const WAIT = { timeoutMs: 60_000 };

test('a takeover between two instances: the active continues through the new leader (+CONTINUE), 0 failed reads', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await master.client().set('ha:key', 'value');
  const group = new FakeGroup();
  const members: FakeCoordination[] = [];
  const join = (self: InstanceInfo): FakeCoordination => {
    const member = group.join(self);
    members.push(member);
    return member;
  };
  const start = async (port: number) =>
    startRbuddy({
      master: master.address,
      active: active.address,
      standby: standby.address,
      args: ['--listen', `127.0.0.1:${port}`, ...failoverTimings()],
      coordination: join,
    });
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await start(portA);
  const b = await start(portB);
  const [memberA, memberB] = members;
  assert.ok(memberA !== undefined && memberB !== undefined);

  group.elect(memberA);
  await waitFor(() => a.status().state === 'healthy' && a.status().leader === true, {
    what: 'A leads, healthy',
    ...WAIT,
  });
  await waitForInSync(master.client(), active.client());

  // The follower: discovery and status from the group's state, the leader named.
  await waitFor(() => b.status().state === 'healthy', { what: 'B follows, healthy', ...WAIT });
  const followed = b.status();
  assert.equal(followed.leader, false);
  assert.equal(followed.leaderAnnounce, `127.0.0.1:${portA}`);
  assert.equal(followed.active, active.address);
  assert.equal(followed.sessions.length, 0, 'a follower relays nothing');
  const activeUrl = await (await fetch(`${b.httpUrl}/active`)).text();
  assert.equal(activeUrl.trim(), `redis://${active.address}/`);
  const sentinel = new Redis({ host: b.resp.host, port: b.resp.port, lazyConnect: false });
  clients.push(sentinel);
  assert.deepEqual(await sentinel.call('SENTINEL', 'get-master-addr-by-name', 'rbuddy'), [
    '127.0.0.1',
    String(active.port),
  ]);
  const sentinels = (await sentinel.call('SENTINEL', 'sentinels', 'rbuddy')) as string[][];
  assert.equal(sentinels.length, 1);
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < (sentinels[0] ?? []).length; i += 2) {
    fields.set(sentinels[0]?.[i] ?? '', sentinels[0]?.[i + 1] ?? '');
  }
  assert.equal(fields.get('ip'), '127.0.0.1');
  assert.equal(fields.get('port'), String(portA));

  const before = await masterStats(master.client());
  const reader = startReader({ httpUrl: b.httpUrl, key: 'ha:key', expected: 'value' });
  await waitFor(() => reader.ok >= 20, { what: 'reads before the takeover', ...WAIT });

  // A leaves (its sessions close, it resigns); B is elected and takes over.
  await a.close();
  group.elect(memberB);
  await waitFor(
    async () => {
      const replication = await info(active.client(), 'replication');
      return (
        b.status().leader === true &&
        b.status().state === 'healthy' &&
        replication.master_port === String(portB) &&
        replication.master_link_status === 'up'
      );
    },
    { what: 'the active streaming through B', ...WAIT },
  );
  await waitFor(
    async () => (await info(standby.client(), 'replication')).master_port === String(portB),
    { what: 'the held standby pointed at B', ...WAIT },
  );
  await master.client().set('ha:after', 'x');
  await waitForInSync(master.client(), active.client());
  const after = await masterStats(master.client());
  assert.equal(after.syncFull, before.syncFull, 'no full sync: the active continued');
  assert.ok(after.syncPartialOk > before.syncPartialOk, 'a partial resync (+CONTINUE)');
  assert.equal(b.status().takeovers, 1);
  assert.equal(b.status().epoch, followed.epoch, 'a takeover is no failover');
  const readsBefore = reader.ok;
  await waitFor(() => reader.ok >= readsBefore + 20, { what: 'reads after the takeover' });
  const result = await reader.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  assert.ok(
    group.saves.every((save) => save.by === memberA.self.id || save.by === memberB.self.id),
  );
});
