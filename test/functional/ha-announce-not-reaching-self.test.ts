// An instance whose --announce does not reach it (docs/ha.md, "The --announce must reach this
// instance"): an operator's typo, a Service that routes elsewhere. Two instances of one group on a
// real 3-member etcd cluster and real redis-servers. The one with the wrong --announce is started
// first, so that it would win the first election: without the check it led, told the active
// `REPLICAOF` its announce (a dead port, or through a forwarder the other instance's listener,
// which answers -NOMASTERLINK as a follower) and stayed `healthy` while nothing replicated. With
// the check it never campaigns, says why in /v1/status (what answered there), the good instance
// leads once started, and no node is ever pointed at the wrong address.
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { startFaultForwarder, type FaultForwarder } from '../../harness/fault-forwarder.js';
import { freePort, terminate } from '../../harness/processes.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, waitForInSync } from '../../harness/replication.js';
import { sentinelId } from '../../src/discovery/sentinel-commands.js';
import { startHaRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];
const forwarders: FaultForwarder[] = [];
const servers: Server[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  await Promise.all(forwarders.map((forwarder) => forwarder.close()));
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await stopAllRedis();
  await cluster.close();
});

/**
 * Every master port the active and the standby are seen to follow, sampled until stopped: a
 * REPLICAOF to the wrong address is seen even when it is undone a moment later.
 */
function watchMasters(rig: HaRig): { seen: Set<string>; stop: () => Promise<void> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const node of [rig.active, rig.standby]) {
        const replication = await info(node.client(), 'replication').catch(() => undefined);
        if (replication?.role === 'slave') seen.add(replication.master_port ?? '?');
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function elected(rbuddy: RbuddyProcess): boolean {
  return rbuddy.logs().some((line) => /^elected/.test(String(line.msg)));
}

/**
 * The instance with the wrong --announce, started first: it refuses to campaign with `reason` in
 * its status (never leading meanwhile); then the good instance is started on `goodPort` and leads;
 * the active syncs through it. Throughout, no node follows anything but the good instance.
 */
async function wrongAnnounceNeverLeads(
  rig: HaRig,
  wrong: string,
  goodPort: number,
  reason: RegExp,
): Promise<void> {
  const masters = watchMasters(rig);
  const bad = await rig.spawn({ announce: wrong });
  const refused = new RegExp(
    `--announce ${wrong.replace(/\./g, '\\.')} does not reach this instance: `,
  );
  const refusing = await rig.waitFor(bad, 'the wrong --announce reported (or a lead)', (s) => {
    return s.leader === true || (s.state === 'degraded' && refused.test(s.reason ?? ''));
  });
  assert.equal(refusing.leader, false, `it leads with an --announce that is not its own: ${wrong}`);
  assert.equal(refusing.announceCheck?.state, 'failing', JSON.stringify(refusing.announceCheck));

  const good = await rig.spawn({ listen: `127.0.0.1:${goodPort}` });
  await rig.waitFor(good, 'the good instance to lead, healthy', (s) => {
    return s.leader === true && s.state === 'healthy' && s.announceCheck?.state === 'verified';
  });
  await waitForInSync(rig.master.client(), rig.active.client());
  const replication = await info(rig.active.client(), 'replication');
  assert.equal(replication.master_port, String(goodPort));
  const still = await rig.waitFor(bad, 'the wrong one following the good one, saying why', (s) => {
    return s.leaderAnnounce === `127.0.0.1:${goodPort}` && reason.test(s.reason ?? '');
  });
  assert.equal(still.leader, false);
  assert.equal(still.state, 'degraded');
  assert.match(still.reason ?? '', reason);
  assert.equal(elected(bad), false, 'the instance with the wrong --announce was never elected');
  // Logged once when the verdict changed, not at every check.
  const logged = bad.logs().filter((line) => /does not reach this instance/.test(String(line.msg)));
  assert.ok(logged.length >= 1 && logged.length <= 3, JSON.stringify(logged));

  await masters.stop();
  const wrongPort = wrong.split(':').at(-1) ?? '';
  assert.ok(!masters.seen.has(wrongPort), `a node followed ${wrong}: ${[...masters.seen].join()}`);
  assert.deepEqual([...masters.seen], [String(goodPort)]);
}

test('an --announce at a dead port: that instance never leads, says so; the other leads', async () => {
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  const dead = await freePort();
  const goodPort = await freePort();
  await wrongAnnounceNeverLeads(
    rig,
    `127.0.0.1:${dead}`,
    goodPort,
    new RegExp(
      `--announce 127\\.0\\.0\\.1:${dead} does not reach this instance: nothing answers there \\(.*ECONNREFUSED`,
    ),
  );
});

test("an --announce that reaches the other instance's listener: never leads, names the id that answered", async () => {
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  const goodPort = await freePort();
  // A second address for the good instance's listener (a Service that routes to the wrong pod).
  const forwarder = await startFaultForwarder({ target: { host: '127.0.0.1', port: goodPort } });
  forwarders.push(forwarder);
  const goodId = sentinelId('rbuddy', `127.0.0.1:${goodPort}`);
  await wrongAnnounceNeverLeads(
    rig,
    forwarder.address,
    goodPort,
    // Once the good instance listens (before, the forwarder closes what it accepts).
    new RegExp(
      `--announce ${forwarder.address.replace(/\./g, '\\.')} does not reach this instance: another id answers there \\(SENTINEL myid ${goodId}`,
    ),
  );
});

test('a leader whose --announce stops reaching it: reported, then it steps down; the other leads', async () => {
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  const firstPort = await freePort();
  // Its --announce is a second address for its listener (a Service, say), which later goes away.
  const forwarder = await startFaultForwarder({ target: { host: '127.0.0.1', port: firstPort } });
  forwarders.push(forwarder);
  const first = await rig.spawn({ listen: `127.0.0.1:${firstPort}`, announce: forwarder.address });
  await rig.waitFor(first, 'the first instance to lead, healthy', (s) => {
    return s.leader === true && s.state === 'healthy' && s.announceCheck?.state === 'verified';
  });
  await waitForInSync(rig.master.client(), rig.active.client());
  const second = await rig.spawn();
  await rig.waitFor(second, 'the second instance following', (s) => {
    return s.leaderAnnounce === forwarder.address && s.announceCheck?.state === 'verified';
  });

  await forwarder.close();
  const down = await rig.waitFor(first, 'the first instance to step down, saying why', (s) => {
    return s.leader === false && /does not reach this instance/.test(s.reason ?? '');
  });
  assert.match(
    down.reason ?? '',
    /does not reach this instance: nothing answers there \(.*ECONNREFUSED/,
  );
  const deposed = first.logs().find((line) => /^deposed/.test(String(line.msg)));
  assert.match(String(deposed?.reason), /nothing answers there .*; stepped down/);
  const secondAnnounce = `127.0.0.1:${second.resp.port}`;
  await rig.waitFor(second, 'the second instance to lead, healthy', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  await waitForInSync(rig.master.client(), rig.active.client());
  assert.equal(
    (await info(rig.active.client(), 'replication')).master_port,
    String(second.resp.port),
  );
  const after = await rig.waitFor(first, 'the first one following the second', (s) => {
    return s.leaderAnnounce === secondAnnounce;
  });
  assert.equal(after.leader, false);
  assert.equal(after.announceCheck?.state, 'failing');
});

/**
 * A NAT without hairpin routing, on loopback: an address that forwards to `port` only connections
 * that come from `from` (the replicas, given `bind-source-addr`), and resets any other (this
 * instance asking its own --announce from 127.0.0.1).
 */
async function natFrom(from: string, port: number): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (socket.remoteAddress !== from) {
      socket.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  server.on('close', () => sockets.forEach((socket) => socket.destroy()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

test('--announce-check no (a NAT without hairpin): not checked, said so; it leads and the replicas reach it', async () => {
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  for (const node of [rig.active, rig.standby]) {
    await node.client().call('CONFIG', 'SET', 'bind-source-addr', '127.0.0.2');
  }
  const port = await freePort();
  const announce = await natFrom('127.0.0.2', port);
  const checked = await rig.spawn({ listen: `127.0.0.1:${port}`, announce });
  // With the check, this instance cannot see itself there: it never campaigns.
  await rig.waitFor(checked, 'the unreachable --announce reported', (s) => {
    return s.leader === false && s.announceCheck?.state === 'failing';
  });
  await terminate(checked.child);

  const unchecked = await rig.spawn({
    listen: `127.0.0.1:${port}`,
    announce,
    extra: ['--announce-check', 'no'],
  });
  const leading = await rig.waitFor(unchecked, 'the unchecked instance to lead, healthy', (s) => {
    return s.leader === true && s.state === 'healthy';
  });
  assert.deepEqual(leading.announceCheck, {
    announce,
    state: 'off',
    detail: 'not checked: --announce-check no',
    checkedAt: null,
  });
  await waitForInSync(rig.master.client(), rig.active.client());
  const replication = await info(rig.active.client(), 'replication');
  assert.equal(replication.master_port, announce.split(':')[1]);
  assert.equal(replication.master_link_status, 'up');
  assert.ok(
    unchecked
      .logs()
      .some((line) => /^--announce not checked \(--announce-check no\)/.test(String(line.msg))),
    'the operator is told, once, in the log',
  );
});
