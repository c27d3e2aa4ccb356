// No instance names a node from a view of the group's state that may be older than the leader's
// flush (docs/ha.md, "What an instance names"). A follower cut off from etcd (a blackholing
// forwarder in front of each etcd member, as that instance sees etcd) while the leader fails over
// and flushes the old active: its GET /active and SENTINEL get-master-addr-by-name, asked
// throughout, either name the node that holds the data or say they cannot tell (503, a null
// array), because its view is older than the lease by the time the old active is flushed: the
// leader retires it no sooner than a lease (and a margin) after the switch, as the failover record
// in etcd shows. Once the cut is lifted the follower names the new active. And a leader SIGSTOPped
// while the other takes over, fails over and flushes: woken, its very first answers name nothing
// flushed (its lease may have lapsed: it answers as a follower, from a view that is stale).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { RawHttpConnection } from '../helpers/raw-http.js';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { isObject } from '../../src/is-object.js';
import { assertStateWritesUnderLeader } from '../helpers/etcd-state-history.js';
import { flushallCalls, LEASE_MS, startHaRig, TOKEN, type HaRig } from '../helpers/ha-rig.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

let cluster: EtcdCluster;
let rig: HaRig | undefined;
const pollers: Poller[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await Promise.all(pollers.map((poller) => poller.stop()));
  await rig?.close();
  await stopAllRedis();
  await cluster.close();
});

/** One answer: when the question was sent (performance.now()), and the address named or why not. */
interface Answer {
  sentAt: number;
  /** `host:port` named, 'unknown' (503 / null array), or 'error: …' (no answer). */
  names: string;
  /** The 503's body, if any. */
  body?: string;
}

interface Poller {
  readonly answers: Answer[];
  stop(): Promise<void>;
}

/** Asks `ask` in a loop until stopped, recording every answer. */
function poll(ask: () => Promise<Omit<Answer, 'sentAt'>>): Poller {
  const answers: Answer[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const sentAt = performance.now();
      const answer = await ask().catch((error: unknown) => ({
        names: `error: ${error instanceof Error ? error.message : String(error)}`,
      }));
      answers.push({ sentAt, ...answer });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const poller = {
    answers,
    async stop() {
      running = false;
      await loop;
    },
  };
  pollers.push(poller);
  return poller;
}

function httpActive(rbuddy: RbuddyProcess): () => Promise<Omit<Answer, 'sentAt'>> {
  return async () => {
    const response = await fetch(`${rbuddy.httpUrl}/active`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.text()).trim();
    if (response.status === 503) return { names: 'unknown', body };
    if (response.status !== 200) return { names: `error: ${response.status} ${body}` };
    return { names: new URL(body).host };
  };
}

function sentinelActive(sentinel: Redis): () => Promise<Omit<Answer, 'sentAt'>> {
  return async () => {
    const reply = await sentinel.call('SENTINEL', 'get-master-addr-by-name', 'rbuddy');
    if (reply === null) return { names: 'unknown' };
    if (!Array.isArray(reply)) return { names: `error: ${JSON.stringify(reply)}` };
    return { names: `${String(reply[0])}:${String(reply[1])}` };
  };
}

/** The `at` (ms) of `step` in a failover record's timeline. */
function stepAt(record: unknown, step: string): number {
  const timeline = isObject(record) && Array.isArray(record.timeline) ? record.timeline : [];
  const entry: unknown = timeline.find(
    (candidate) => isObject(candidate) && candidate.step === step,
  );
  assert.ok(isObject(entry) && typeof entry.at === 'string', `the record has a ${step} step`);
  return Date.parse(entry.at);
}

test('a follower cut off from etcd never names the node the leader flushed; reconnected, it names the new active', async () => {
  const views = [await cluster.forwarders(), await cluster.forwarders()];
  rig = await startHaRig(cluster, { etcdUrls: views.map((view) => view.urls), drainMs: 1000 });
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch ?? 0;
  const cut = views[rig.instances.indexOf(follower)];
  assert.ok(cut !== undefined);
  const oldActive = rig.active.address;
  const oldActiveClient = rig.active.client();
  const newActive = rig.standby.address;

  const sentinel = new Redis({
    host: '127.0.0.1',
    port: follower.resp.port,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  sentinel.on('error', () => undefined);
  const http = poll(httpActive(follower));
  const sentinelPoll = poll(sentinelActive(sentinel));
  await waitFor(() => http.answers.some((answer) => answer.names === oldActive), {
    what: 'the follower naming the active',
  });

  for (const forwarder of cut.all) forwarder.setMode({ kind: 'blackhole' });
  await requestPlannedSwitch(leader.httpUrl, TOKEN);
  // The flush as the old active shows it: every question sent after this is answered after it.
  const flushedSeenAt = await waitFor(
    async () => ((await flushallCalls(oldActiveClient)) === 1 ? performance.now() : undefined),
    { what: 'the old active flushed', timeoutMs: 90_000, intervalMs: 20 },
  );
  const switched = await rig.waitFor(leader, 'the failover completed', (s) => {
    return s.state === 'healthy' && s.epoch === epoch + 1;
  });
  assert.equal(switched.active, newActive);
  // (INFO: a held standby answers DBSIZE -MASTERDOWN.)
  const keyspace = await info(oldActiveClient, 'keyspace');
  assert.equal(keyspace.db0, undefined, 'the old active holds nothing now');

  const answered = (poller: Poller): Answer[] =>
    poller.answers.filter((answer) => answer.sentAt > flushedSeenAt);
  await waitFor(() => answered(http).length >= 20 && answered(sentinelPoll).length >= 20, {
    what: 'answers asked after the flush, the follower still cut off',
  });
  const check = (name: string, poller: Poller): void => {
    const after = answered(poller);
    const wrong = after.filter(
      (answer) => answer.names !== 'unknown' && answer.names !== newActive,
    );
    assert.deepEqual(wrong, [], `${name}: after the flush, only the new active or unknown`);
    for (const answer of after.filter((candidate) => candidate.body !== undefined)) {
      assert.match(answer.body ?? '', /older than the lease.*ask another instance/);
    }
  };
  check('GET /active', http);
  check('SENTINEL get-master-addr-by-name', sentinelPoll);

  // The bound the leader keeps, from the failover record it wrote to etcd (its own clock): the
  // flush came no sooner than a lease after the switch.
  const client = new Etcd3({ hosts: [...cluster.clientUrls] });
  try {
    const text = await client.get(rig.keys.state).string();
    const state: unknown = JSON.parse(text ?? 'null');
    const record = isObject(state) ? state.lastFailover : undefined;
    const gap = stepAt(record, 'flushed') - stepAt(record, 'switched');
    assert.ok(
      gap >= LEASE_MS,
      `flushed ${gap} ms after the switch, under the lease (${LEASE_MS} ms)`,
    );
  } finally {
    client.close();
  }

  // Still cut off: it says why it names nothing.
  const stale = await rig.status(follower);
  assert.equal(stale.state, 'degraded');
  assert.match(stale.reason ?? '', /view of the group is older than the lease/);
  assert.equal(stale.active, null);
  assert.equal((await fetch(`${follower.httpUrl}/readyz`)).status, 503);

  for (const forwarder of cut.all) forwarder.setMode({ kind: 'pass' });
  await waitFor(() => http.answers.at(-1)?.names === newActive, {
    what: 'the follower naming the new active over HTTP',
    timeoutMs: 30_000,
  });
  await waitFor(() => sentinelPoll.answers.at(-1)?.names === newActive, {
    what: 'the follower naming the new active to Sentinel clients',
    timeoutMs: 30_000,
  });
  await http.stop();
  await sentinelPoll.stop();
  sentinel.disconnect();
  check('GET /active', http);
  check('SENTINEL get-master-addr-by-name', sentinelPoll);
  await assertStateWritesUnderLeader(cluster, rig.keys);
});

test('a leader woken from SIGSTOP after the other took over and flushed the old active names nothing flushed', async () => {
  await rig?.close();
  rig = await startHaRig(cluster, { drainMs: 1000 });
  const { leader, follower } = await rig.leader();
  const epoch = (await rig.status(leader)).epoch ?? 0;
  const oldActiveClient = rig.active.client();
  const newActive = rig.standby.address;
  const sentinel = new Redis({
    host: '127.0.0.1',
    port: leader.resp.port,
    commandTimeout: 60_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  sentinel.on('error', () => undefined);
  assert.deepEqual(
    await sentinel.call('SENTINEL', 'get-master-addr-by-name', 'rbuddy'),
    rig.active.address.split(':'),
  );

  leader.child.kill('SIGSTOP');
  try {
    await rig.waitFor(follower, 'the other instance leads, healthy', (s) => {
      return s.leader === true && s.state === 'healthy';
    });
    await requestPlannedSwitch(follower.httpUrl, TOKEN);
    await rig.waitFor(follower, 'the failover completed', (s) => {
      return s.state === 'healthy' && s.epoch === epoch + 1;
    });
    assert.equal(await flushallCalls(oldActiveClient), 1, 'the old active flushed');
    // Asked while it sleeps, after the flush: answered the moment it wakes, before any timer.
    const http = await RawHttpConnection.open(leader.httpUrl);
    http.send('GET /active HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    const named = sentinel.call('SENTINEL', 'get-master-addr-by-name', 'rbuddy');
    const statusHttp = await RawHttpConnection.open(leader.httpUrl);
    statusHttp.send('GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    leader.child.kill('SIGCONT');
    await http.waitClosed('the woken instance to answer GET /active');
    await statusHttp.waitClosed('the woken instance to answer GET /v1/status');
    // Not leading any more, it never names itself as the leader (a tool routing operator
    // requests to leaderAnnounce would be sent to a deposed instance).
    const status = statusHttp.text();
    assert.match(status, /"leader":\s*(true|false)/, 'a status was answered');
    const own = new RegExp(`"leaderAnnounce":\\s*"127\\.0\\.0\\.1:${leader.resp.port}"`);
    assert.ok(
      !(own.test(status) && /"leader":\s*false/.test(status)),
      `the woken instance names itself the leader: ${status.slice(0, 400)}`,
    );
    const answer = http.text();
    assert.ok(
      /^HTTP\/1\.1 503 [^]*older than the lease/.test(answer) ||
        answer.includes(`redis://${newActive}/`),
      `GET /active after the flush: ${answer}`,
    );
    const reply = await named;
    assert.ok(
      reply === null || (Array.isArray(reply) && reply.join(':') === newActive),
      `SENTINEL get-master-addr-by-name after the flush: ${JSON.stringify(reply)}`,
    );
  } finally {
    leader.child.kill('SIGCONT');
    sentinel.disconnect();
  }
  await rig.waitFor(leader, 'the woken instance follows, naming the new active', (s) => {
    return s.leader === false && s.active === newActive;
  });
});
