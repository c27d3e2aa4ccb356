// The discovery client matrix for ioredis (test/helpers/client-matrix.ts): with `role: 'slave'`
// only, and with the options README.md documents. With Sentinel's default options ioredis never
// reads: its ready check drops any node whose INFO role is not the one asked for (`master` by
// default; SentinelConnector.check), and the active is a replica (of rbuddy); the first test
// pins that down, so that README's "needs role: 'slave'" stays true.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { stopAllRedis } from '../../harness/redis-server.js';
import { parseInfo } from '../../harness/replication.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { startTopology } from '../helpers/topology.js';
import {
  assertClean,
  jsReadLoop,
  KEY,
  throughBothFailovers,
  type OpenClient,
} from '../helpers/client-matrix.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

const ioredis =
  (options: Partial<RedisOptions>): OpenClient =>
  (sentinel, group) => {
    const client = new Redis({ sentinels: [sentinel], name: group, ...options });
    client.on('error', () => undefined);
    return Promise.resolve(
      jsReadLoop(
        () => client.get(KEY),
        async () => Number(parseInfo(await client.info('server')).tcp_port),
        () => {
          client.disconnect();
          return Promise.resolve();
        },
      ),
    );
  };

test('ioredis, default Sentinel options: never reads (the active reports role:slave)', async () => {
  const t = await startTopology({ rbuddyArgs: ['--group', 'io-default'] });
  await t.waitForHealthy();
  const client = new Redis({
    sentinels: [{ host: t.rbuddy.resp.host, port: t.rbuddy.resp.port }],
    name: 'io-default',
  });
  client.on('error', () => undefined);
  try {
    await assert.rejects(client.get(KEY), /max retries per request/);
    assert.notEqual(client.status, 'ready');
  } finally {
    client.disconnect();
  }
});

test("ioredis, role: 'slave' only", async () => {
  assertClean(await throughBothFailovers('io-slave', ioredis({ role: 'slave' })));
});

test("ioredis, README's options", async () => {
  assertClean(
    await throughBothFailovers(
      'io-readme',
      ioredis({
        role: 'slave',
        updateSentinels: false,
        failoverDetector: true,
        sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      }),
    ),
  );
});
