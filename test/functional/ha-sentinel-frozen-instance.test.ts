// ioredis given every instance as a sentinel, with README's options, while the instance it lists
// first is frozen (SIGSTOP: a paused VM, a stopped container). Two rbuddy CLI processes on a real
// 3-member etcd cluster, real redis-servers. A frozen process still has its listener: the kernel
// accepts the connection, and nothing ever answers. Without `sentinelCommandTimeout`, the client's
// reconnect after the next switch asked the frozen instance first and waited forever, however
// healthy the other instance was (reviewer round 5, F3: no read for 24 s, until SIGCONT). With it,
// the client moves on to the next sentinel, and reads go on.
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];
const cleanups: Array<() => void> = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  for (const cleanup of cleanups) cleanup();
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
});

test('a frozen instance listed first: README’s ioredis options read on through a takeover and a switch', async () => {
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch ?? 0;
  // README's example ("Discovery"), given every instance, the leader first.
  const redis = new Redis({
    sentinels: [leader.resp, follower.resp],
    name: 'rbuddy',
    role: 'slave',
    updateSentinels: false,
    failoverDetector: true,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    sentinelCommandTimeout: 1000,
  });
  redis.on('error', () => undefined);
  let closing = false;
  redis.on('end', () => {
    if (!closing) redis.connect().catch(() => undefined);
  });
  let ok = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const value = await redis.get('ha:key').catch(() => undefined);
      if (value === 'value') ok += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  cleanups.push(() => {
    running = false;
    closing = true;
    redis.disconnect();
    leader.child.kill('SIGCONT');
  });
  await waitFor(() => ok > 10, { what: 'reads through the sentinels', timeoutMs: 30_000 });

  leader.child.kill('SIGSTOP');
  await rig.waitFor(follower, 'the other instance to lead', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  await requestPlannedSwitch(follower.httpUrl, TOKEN);
  await rig.waitFor(follower, 'the switch to complete', (s) => {
    return s.state === 'healthy' && s.epoch === epoch + 1 && s.failover === null;
  });
  // The switch ends with CLIENT KILL on the old active: the client reconnects, asking the
  // sentinels again, the frozen one first.
  const afterSwitch = ok;
  await waitFor(() => ok > afterSwitch + 20, {
    what: 'reads after the switch, the first sentinel still frozen',
    timeoutMs: 30_000,
  });

  running = false;
  await loop;
});
