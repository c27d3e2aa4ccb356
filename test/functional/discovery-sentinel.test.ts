// A stock ioredis client whose only sentinel is the proxy follows the ACTIVE replica through a
// whole failover cycle (master kill -9, promote, resync, switch, flush) with zero failed reads, and
// ends on the new active; a subscriber on the proxy's port receives the failover.completed JSON on
// --channel and Sentinel's +switch-master with the right addresses. The client options here are the
// ones README.md documents.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info } from '../../harness/replication.js';
import { startTopology, failoverTimings } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const GROUP = 'cache-a';
const CHANNEL = 'rb:events';
const clients: Redis[] = [];

after(async () => {
  for (const client of clients) client.disconnect();
  await stopAllRbuddy();
  await stopAllRedis();
});

test('ioredis with the proxy as its sentinel reads through a failover; subscribers see it', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no' },
    rbuddyArgs: ['--group', GROUP, '--channel', CHANNEL, ...failoverTimings()],
    populate: { megabytes: 2 },
  });
  const master = t.master.client();
  await master.set('reader-key', 'reader-value');
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;
  const proxy = { host: t.rbuddy.resp.host, port: t.rbuddy.resp.port };

  // A plain client on the proxy's port: it is not Redis (no INFO), hence no ready check.
  const subscriber = new Redis({ ...proxy, enableReadyCheck: false, lazyConnect: true });
  clients.push(subscriber);
  const received: { channel: string; message: string }[] = [];
  subscriber.on('message', (channel: string, message: string) =>
    received.push({ channel, message }),
  );
  await subscriber.connect();
  assert.equal(await subscriber.subscribe(CHANNEL, '+switch-master'), 2);

  // The documented Sentinel-mode options (README "Discovery (Sentinel-compatible)").
  const reader = new Redis({
    sentinels: [proxy],
    name: GROUP,
    role: 'slave',
    updateSentinels: false,
    failoverDetector: true,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
  });
  clients.push(reader);
  const connectionErrors: string[] = [];
  reader.on('error', (error: Error) => connectionErrors.push(error.message));
  const nodePort = async (): Promise<number> => Number((await info(reader, 'server')).tcp_port);
  assert.equal(await nodePort(), t.active.port, 'ioredis starts on the active replica');

  let ok = 0;
  const failures: string[] = [];
  let reading = true;
  const loop = (async () => {
    while (reading) {
      try {
        const value = await reader.get('reader-key');
        if (value === 'reader-value') ok++;
        else failures.push(`read ${String(value)}`);
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
  })();
  await waitFor(() => ok >= 20, { what: 'the ioredis reader to read' });

  await master.save();
  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: 'the active to be promoted and the standby attached',
  });
  const during = ok;
  await waitFor(() => ok >= during + 50, { what: 'reads while the master is away' });
  await t.master.restart();
  await waitFor(
    () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epochBefore + 1,
    { what: 'the switch to complete', timeoutMs: 120_000 },
  );
  // +switch-master (failoverDetector) made ioredis ask the proxy again.
  await waitFor(async () => (await nodePort()) === t.standby.port, {
    what: 'ioredis to move to the new active',
    timeoutMs: 60_000,
  });
  const after = ok;
  await waitFor(() => ok >= after + 50, { what: 'reads on the new active' });
  reading = false;
  await loop;

  assert.deepEqual(failures, [], 'zero failed reads');
  assert.deepEqual(connectionErrors, [], 'zero connection errors');
  assert.equal(t.rbuddy.status().active, t.standby.address);

  const completed = t.rbuddy.app.events.history().find((e) => e.type === 'failover.completed');
  assert.ok(completed !== undefined);
  await waitFor(() => received.some((r) => r.channel === '+switch-master'), {
    what: '+switch-master to arrive',
  });
  const onChannel = received
    .filter((r) => r.channel === CHANNEL)
    .map((r) => JSON.parse(r.message) as { id: string; type: string });
  const published = onChannel.find((event) => event.type === 'failover.completed');
  assert.deepEqual(published, JSON.parse(JSON.stringify(completed)));
  assert.ok(
    onChannel.some((event) => event.type === 'master.down'),
    'every event is published',
  );
  const [oldHost, oldPort] = t.active.address.split(':');
  const [newHost, newPort] = t.standby.address.split(':');
  assert.deepEqual(
    received.filter((r) => r.channel === '+switch-master').map((r) => r.message),
    [`${GROUP} ${oldHost} ${oldPort} ${newHost} ${newPort}`],
  );
  // Subscribed mode as in Redis: PING works, other commands are refused.
  assert.deepEqual(await subscriber.ping(), ['pong', '']);
  assert.equal(await subscriber.unsubscribe(), 0);
  const view = (await subscriber.call('SENTINEL', 'get-master-addr-by-name', GROUP)) as string[];
  assert.deepEqual(view, [newHost, newPort]);
});
