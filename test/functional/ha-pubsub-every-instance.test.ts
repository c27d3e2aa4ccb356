// Pub/sub on every instance of a group (docs/ha.md, "Pub/sub and webhooks"), real 3-member etcd,
// real redis-servers, the built CLI. A Sentinel client given every instance subscribes on
// whichever one it reached, often a follower: a subscriber on the follower hears each switch's
// `+switch-master` and each event's `--channel` JSON (the same id as the webhook's), exactly
// once. The leader is killed with kill -9 during the drain: the follower, which told the switch
// as a follower, leads and resumes it without telling it again on its port; a further switch by
// the new leader is heard once too.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../harness/webhook-receiver.js';
import { waitFor } from '../../harness/wait-for.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

const CHANNEL = 'rbuddy:events';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];
const receivers: WebhookReceiver[] = [];
const listeners: Listener[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  for (const listener of listeners) listener.close();
  await Promise.all(rigs.map((rig) => rig.close()));
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await stopAllRedis();
  await cluster.close();
});

interface Listener {
  /** Every `+switch-master` message, in arrival order. */
  switches(): string[];
  /** Every event heard on the channel (through the pattern), in arrival order. */
  events(): RbuddyEvent[];
  close(): void;
}

/** SUBSCRIBE +switch-master and PSUBSCRIBE the channel's pattern on one instance's RESP port. */
async function listen(rbuddy: RbuddyProcess): Promise<Listener> {
  const client = new Redis({
    host: rbuddy.resp.host,
    port: rbuddy.resp.port,
    enableReadyCheck: false,
    maxRetriesPerRequest: 1,
  });
  client.on('error', () => undefined);
  const switches: string[] = [];
  const events: RbuddyEvent[] = [];
  client.on('message', (channel: string, message: string) => {
    if (channel === '+switch-master') switches.push(message);
  });
  client.on('pmessage', (_pattern: string, channel: string, message: string) => {
    if (channel === CHANNEL) events.push(JSON.parse(message) as RbuddyEvent);
  });
  await client.subscribe('+switch-master');
  await client.psubscribe('rbuddy:*');
  const listener: Listener = {
    switches: () => [...switches],
    events: () => [...events],
    close: () => client.disconnect(),
  };
  listeners.push(listener);
  return listener;
}

function ofType(listener: Listener, type: RbuddyEvent['type'], epoch: number): RbuddyEvent[] {
  return listener.events().filter((event) => event.type === type && event.epoch === epoch);
}

/** Each event id heard at most once. */
function assertEachIdOnce(listener: Listener, where: string): void {
  const counts = new Map<string, number>();
  for (const event of listener.events()) counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
  const repeated = [...counts].filter(([, count]) => count > 1);
  assert.deepEqual(repeated, [], `${where}: an event heard twice: ${JSON.stringify(repeated)}`);
}

/** The instance logged that its relay read these event ids from etcd (it has seen them there). */
function relayed(rbuddy: RbuddyProcess, ids: readonly string[]): boolean {
  const read = new Set<string>();
  for (const line of rbuddy.logs()) {
    if (line.msg !== 'events read from etcd' || !Array.isArray(line.events)) continue;
    for (const id of line.events) if (typeof id === 'string') read.add(id);
  }
  return ids.every((id) => read.has(id));
}

test('a subscriber on the follower hears each switch once (+switch-master, the --channel JSON), also across a takeover', async () => {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const rig = await startHaRig(cluster, {
    // Long enough that the leader is killed during the drain (the new leader resumes the switch).
    drainMs: 10_000,
    extra: ['--webhook', receiver.url, '--webhook-secret', receiver.secret],
  });
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const onFollower = await listen(follower);
  const onLeader = await listen(leader);
  const epoch = (await rig.status(leader)).epoch ?? 0;
  const [activeHost, activePort] = rig.active.address.split(':');
  const [standbyHost, standbyPort] = rig.standby.address.split(':');
  const group = (await rig.status(leader)).group;
  const firstSwitch = `${group} ${activeHost} ${activePort} ${standbyHost} ${standbyPort}`;

  await requestPlannedSwitch(leader.httpUrl, TOKEN);
  await rig.waitFor(leader, 'the switch (draining)', (s) => s.failover?.step === 'switched');
  const heard = await waitFor(
    () => {
      const [completed] = ofType(onFollower, 'failover.completed', epoch + 1);
      return completed !== undefined && onFollower.switches().length > 0 ? completed : undefined;
    },
    {
      what: 'the follower to tell its subscriber of the switch',
      explain: () =>
        JSON.stringify({ switches: onFollower.switches(), events: onFollower.events() }),
    },
  );
  assert.deepEqual(onFollower.switches(), [firstSwitch]);
  // The leader's own subscriber heard the same event, under the same id.
  const [toldByLeader] = ofType(onLeader, 'failover.completed', epoch + 1);
  assert.equal(toldByLeader?.id, heard.id);
  assert.deepEqual(onLeader.switches(), [firstSwitch]);

  // kill -9 during the drain: the follower leads, resumes the switch and retires the old active.
  await rig.kill9(leader);
  await rig.waitFor(follower, 'the follower to lead and retire the switch', (s) => {
    return s.leader === true && s.state === 'healthy' && s.failover === null;
  });
  assert.ok(
    follower.logs().some((line) => String(line.msg).startsWith('resuming a switch')),
    'the new leader resumed the switch (the leader was killed during the drain)',
  );
  const [ready] = await waitFor(() => ofType(onFollower, 'standby.ready', epoch + 1), {
    what: 'standby.ready on the new leader',
    explain: () => JSON.stringify(onFollower.events()),
  });
  assert.ok(ready !== undefined);
  // The webhooks (from the outbox in etcd) carry the same id as the pub/sub JSON.
  const webhook = await waitFor(
    () =>
      receiver
        .delivered()
        .find((event) => event.type === 'failover.completed' && event.epoch === epoch + 1),
    { what: 'the webhook of failover.completed' },
  );
  assert.equal(webhook.id, heard.id);

  // A further switch, by the new leader.
  await requestPlannedSwitch(follower.httpUrl, TOKEN);
  await rig.waitFor(follower, 'the second switch retired', (s) => {
    return s.state === 'healthy' && s.epoch === epoch + 2 && s.failover === null;
  });
  const [secondReady] = await waitFor(() => ofType(onFollower, 'standby.ready', epoch + 2), {
    what: 'standby.ready of the second switch',
    explain: () => JSON.stringify(onFollower.events()),
  });
  assert.ok(secondReady !== undefined);
  // Its own events came back to it through etcd (the relay every instance runs): only then can
  // a copy told twice have reached the subscriber.
  const secondIds = onFollower
    .events()
    .filter((event) => event.epoch === epoch + 2)
    .map((event) => event.id);
  await waitFor(() => relayed(follower, secondIds), {
    what: "the new leader's relay to read its own events back from etcd",
  });

  const secondSwitch = `${group} ${standbyHost} ${standbyPort} ${activeHost} ${activePort}`;
  assert.deepEqual(onFollower.switches(), [firstSwitch, secondSwitch], 'each switch told once');
  assert.equal(ofType(onFollower, 'failover.completed', epoch + 1).length, 1);
  assert.equal(ofType(onFollower, 'failover.completed', epoch + 2).length, 1);
  assertEachIdOnce(onFollower, 'the subscriber on the follower (then leader)');
  const secondWebhook = await waitFor(
    () =>
      receiver
        .delivered()
        .find((event) => event.type === 'failover.completed' && event.epoch === epoch + 2),
    { what: 'the webhook of the second failover.completed' },
  );
  assert.equal(secondWebhook.id, ofType(onFollower, 'failover.completed', epoch + 2)[0]?.id);
});

test('a key put under events/ with a huge sequence number does not deafen the follower', async () => {
  // `events/9999999999999999` (anyone with write access to the prefix): before, the next event
  // was numbered 1e16 in floating point, a 17-digit key no reader accepts, deleted in the same
  // transaction: no event of any later failover reached a follower's subscribers.
  const rig = await startHaRig(cluster);
  rigs.push(rig);
  const { leader, follower } = await rig.leader();
  const etcd = new Etcd3({ hosts: [...cluster.clientUrls] });
  try {
    await etcd.put(`${rig.keys.events}9999999999999999`).value('x');
  } finally {
    etcd.close();
  }
  const onFollower = await listen(follower);
  const epoch = (await rig.status(leader)).epoch ?? 0;
  await requestPlannedSwitch(leader.httpUrl, TOKEN);
  await waitFor(
    () =>
      ofType(onFollower, 'failover.completed', epoch + 1).length > 0 &&
      onFollower.switches().length > 0,
    {
      what: 'the follower to tell its subscriber of the switch',
      explain: () =>
        JSON.stringify({ switches: onFollower.switches(), events: onFollower.events() }),
    },
  );
  assertEachIdOnce(onFollower, 'the subscriber on the follower');
});
