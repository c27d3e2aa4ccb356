// The discovery client matrix for node-redis (test/helpers/client-matrix.ts): node-redis 6 with
// its defaults (RESP3, so rbuddy's HELLO 3) and with `RESP: 2`, and node-redis 5 (its defaults).
import { after, test } from 'node:test';
import { createSentinel as createSentinel6 } from 'redis';
import { createSentinel as createSentinel5 } from 'redis5';
import { stopAllRedis } from '../../harness/redis-server.js';
import { parseInfo } from '../../harness/replication.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
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

const nodeRedis6 =
  (resp: 2 | 3 | undefined): OpenClient =>
  async (sentinel, group) => {
    const client = createSentinel6({
      name: group,
      sentinelRootNodes: [sentinel],
      ...(resp === undefined ? {} : { RESP: resp }),
    });
    client.on('error', () => undefined);
    await client.connect();
    return jsReadLoop(
      () => client.get(KEY),
      async () => Number(parseInfo(String(await client.info('server'))).tcp_port),
      () => client.close(),
    );
  };

const nodeRedis5: OpenClient = async (sentinel, group) => {
  const client = createSentinel5({ name: group, sentinelRootNodes: [sentinel] });
  client.on('error', () => undefined);
  await client.connect();
  return jsReadLoop(
    () => client.get(KEY),
    async () => Number(parseInfo(String(await client.info('server'))).tcp_port),
    () => client.close(),
  );
};

test('node-redis 6, default options (RESP3)', async () => {
  assertClean(await throughBothFailovers('nr6-default', nodeRedis6(undefined)));
});

test('node-redis 6, RESP: 2', async () => {
  assertClean(await throughBothFailovers('nr6-resp2', nodeRedis6(2)));
});

test('node-redis 5, default options', async () => {
  assertClean(await throughBothFailovers('nr5-default', nodeRedis5));
});
