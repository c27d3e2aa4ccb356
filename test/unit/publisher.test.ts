// The --publish sink with fake targets: deliver() returns at once whatever the targets do, each
// target gets the events in order, failures are retried then given up (counted), a target that
// hangs stalls only itself, and URLs are logged without their credentials.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { NotificationChannel, NotificationResult } from '../../src/notify/events.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import {
  Publisher,
  publishTargets,
  redactRedisUrl,
  type PublishClient,
  type PublishTarget,
} from '../../src/notify/publisher.js';
import { waitFor } from '../../harness/wait-for.js';

const silent = pino({ level: 'silent' });

function event(n: number): RbuddyEvent {
  return {
    id: `id-${n}`,
    type: 'failover.completed',
    timestamp: '2026-01-01T00:00:00.000Z',
    group: 'g',
    epoch: n,
    data: { active: 'a:1', standby: 'b:2', master: 'm:3' },
  };
}

class FakeClient implements PublishClient {
  readonly received: { channel: string; message: string }[] = [];
  failuresLeft = 0;
  hang = false;
  async publish(channel: string, message: string): Promise<number> {
    if (this.hang) return new Promise(() => undefined);
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw new Error('ECONNREFUSED');
    }
    this.received.push({ channel, message });
    return 1;
  }
}

function target(name: string, client: FakeClient): PublishTarget {
  return { name, client: () => client };
}

function recorder(): {
  counts: Map<NotificationResult, number>;
  record: (channel: NotificationChannel, result: NotificationResult) => void;
} {
  const counts = new Map<NotificationResult, number>();
  return {
    counts,
    record: (_channel, result) => counts.set(result, (counts.get(result) ?? 0) + 1),
  };
}

describe('Publisher', () => {
  test('publishes each event JSON on the channel, in order, to every target', async () => {
    const one = new FakeClient();
    const two = new FakeClient();
    const { counts, record } = recorder();
    const publisher = new Publisher({
      targets: [target('one', one), target('two', two)],
      channel: 'rbuddy:events',
      logger: silent,
      record,
      retry: () => 0,
    });
    for (let n = 1; n <= 5; n += 1) publisher.deliver(event(n));
    await waitFor(() => one.received.length === 5 && two.received.length === 5, {
      what: 'five events at both targets',
      timeoutMs: 10_000,
    });
    for (const client of [one, two]) {
      assert.deepEqual(
        client.received.map((entry) => (JSON.parse(entry.message) as RbuddyEvent).id),
        ['id-1', 'id-2', 'id-3', 'id-4', 'id-5'],
      );
      assert.ok(client.received.every((entry) => entry.channel === 'rbuddy:events'));
    }
    assert.deepEqual(JSON.parse(one.received[0]?.message ?? ''), event(1));
    assert.equal(counts.get('delivered'), 10);
    await publisher.close();
  });

  test('retries a failing target, keeping the order, and counts every failure', async () => {
    const flaky = new FakeClient();
    flaky.failuresLeft = 2;
    const { counts, record } = recorder();
    const publisher = new Publisher({
      targets: [target('flaky', flaky)],
      channel: 'c',
      logger: silent,
      record,
      retry: () => 1,
    });
    publisher.deliver(event(1));
    publisher.deliver(event(2));
    await waitFor(() => flaky.received.length === 2, { what: 'both events', timeoutMs: 10_000 });
    assert.deepEqual(
      flaky.received.map((entry) => (JSON.parse(entry.message) as RbuddyEvent).id),
      ['id-1', 'id-2'],
    );
    assert.equal(counts.get('failed'), 2);
    assert.equal(counts.get('delivered'), 2);
    const [status] = publisher.status();
    assert.equal(status?.target, 'flaky');
    assert.equal(status?.pending, 0);
    assert.match(status?.lastError ?? '', /^\d{4}-\d\d-\d\dT\S+Z ECONNREFUSED$/);
    assert.ok(status?.lastSuccess !== null && Date.parse(status?.lastSuccess ?? '') > 0);
    await publisher.close();
  });

  test('status() shows each target: pending events, last success, last error', async () => {
    const up = new FakeClient();
    const hanging = new FakeClient();
    hanging.hang = true;
    const publisher = new Publisher({
      targets: [target('up', up), target('hanging', hanging)],
      channel: 'c',
      logger: silent,
      retry: () => 1,
    });
    assert.deepEqual(publisher.status(), [
      { target: 'up', pending: 0, lastSuccess: null, lastError: null },
      { target: 'hanging', pending: 0, lastSuccess: null, lastError: null },
    ]);
    publisher.deliver(event(1));
    publisher.deliver(event(2));
    await waitFor(() => up.received.length === 2, { what: 'both events at up', timeoutMs: 10_000 });
    const [ok, stuck] = publisher.status();
    assert.equal(ok?.pending, 0);
    assert.ok(ok?.lastSuccess !== null);
    assert.deepEqual(stuck, { target: 'hanging', pending: 2, lastSuccess: null, lastError: null });
    await publisher.close();
  });

  test('gives up on an event after the retry policy says so, then goes on with the next', async () => {
    const down = new FakeClient();
    down.failuresLeft = 3;
    const { counts, record } = recorder();
    const publisher = new Publisher({
      targets: [target('down', down)],
      channel: 'c',
      logger: silent,
      record,
      retry: (attempt) => (attempt >= 2 ? false : 1), // three attempts per event
    });
    publisher.deliver(event(1));
    publisher.deliver(event(2));
    await waitFor(() => down.received.length === 1, {
      what: 'the second event',
      timeoutMs: 10_000,
    });
    assert.equal((JSON.parse(down.received[0]?.message ?? '') as RbuddyEvent).id, 'id-2');
    assert.equal(counts.get('failed'), 3);
    assert.equal(counts.get('dropped'), 1);
    await publisher.close();
  });

  test('deliver() returns at once; a hanging target stalls only itself', async () => {
    const hanging = new FakeClient();
    hanging.hang = true;
    const healthy = new FakeClient();
    const publisher = new Publisher({
      targets: [target('hanging', hanging), target('healthy', healthy)],
      channel: 'c',
      logger: silent,
      retry: () => 1,
    });
    // deliver() is synchronous (void): it returns with the hanging PUBLISH still pending.
    assert.equal(publisher.deliver(event(1)), undefined);
    await waitFor(() => healthy.received.length === 1, {
      what: 'the healthy target',
      timeoutMs: 10_000,
    });
    assert.equal(hanging.received.length, 0);
    await publisher.close();
  });

  test('a full queue drops the oldest event and counts it', async () => {
    const hanging = new FakeClient();
    hanging.hang = true;
    const { counts, record } = recorder();
    const publisher = new Publisher({
      targets: [target('hanging', hanging)],
      channel: 'c',
      logger: silent,
      record,
      maxQueue: 2,
    });
    for (let n = 1; n <= 5; n += 1) publisher.deliver(event(n));
    assert.equal(counts.get('dropped'), 3);
    await publisher.close();
  });
});

describe('publish targets', () => {
  test('"replicas" means both configured replicas, "none" nothing, URLs their own client', async () => {
    const nodes = [
      { id: 'a:1', host: 'a', port: 1 },
      { id: 'b:2', host: 'b', port: 2 },
    ];
    const asked: string[] = [];
    // The replicas' control clients: never connected (lazyConnect), since nothing is published.
    const made: Redis[] = [];
    const clients = {
      client: (node: { id: string }): Redis => {
        asked.push(node.id);
        const client = new Redis({ lazyConnect: true, enableOfflineQueue: false });
        made.push(client);
        return client;
      },
    };
    const options = { connectTimeoutMs: 100, commandTimeoutMs: 100, logger: silent };
    assert.deepEqual(publishTargets(['none'], { nodes, clients }, options), []);
    const targets = publishTargets(
      ['replicas', 'redis://user:s3cret@127.0.0.1:1/0?password=s3cret'],
      { nodes, clients },
      options,
    );
    assert.deepEqual(
      targets.map((entry) => entry.name),
      ['replica a:1', 'replica b:2', 'redis://127.0.0.1:1/0'],
    );
    targets[0]?.client();
    targets[1]?.client();
    assert.deepEqual(asked, ['a:1', 'b:2']);
    assert.ok(
      made.every((client) => client.status === 'wait'),
      'never connected',
    );
    for (const entry of targets) await entry.close?.();
    for (const client of made) client.disconnect();
  });

  test('redactRedisUrl drops user, password and query', () => {
    assert.equal(redactRedisUrl('rediss://u:pw@host:6380/2?password=pw'), 'rediss://host:6380/2');
    assert.doesNotMatch(redactRedisUrl('not a url pw'), /pw/);
  });
});
