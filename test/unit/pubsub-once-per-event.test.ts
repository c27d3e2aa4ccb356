// Each event once per port (docs/ha.md, "Pub/sub and webhooks"): the pub/sub hub tells an event
// once by its id, whether it comes from this process's engine, from the group's recent events in
// etcd (relayed), or again with its id (a new leader's or a restarted process's resend); a
// switch's Sentinel messages once per epoch, also when a new leader resumes a switch it told as a
// follower; and what it remembers is bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { PubSubHub, TOLD_IDS } from '../../src/discovery/pubsub-hub.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { SeenIds } from '../../src/notify/seen-ids.js';
import { FakeSubscriber } from '../helpers/fake-subscriber.js';

const silent = pino({ level: 'silent' });
const CHANNEL = 'rbuddy:events';
const OLD = '10.0.0.5:6379';
const NEW = '10.0.0.6:6380';
const SWITCH_MASTER = 'g1 10.0.0.5 6379 10.0.0.6 6380';

function event(type: RbuddyEvent['type'], id: string, epoch = 2): RbuddyEvent {
  return {
    id,
    type,
    timestamp: '2026-01-01T00:00:00.000Z',
    group: 'g1',
    epoch,
    data: { active: NEW, standby: OLD, master: '10.0.0.2:6379', previousActive: OLD },
  };
}

/** A subscriber of +switch-master and every channel (a pattern), as ioredis and node-redis are. */
function subscriber(hub: PubSubHub, id = 'c'): FakeSubscriber {
  const client = new FakeSubscriber(id);
  hub.subscribe(client, [Buffer.from('+switch-master')]);
  hub.psubscribe(client, [Buffer.from('rbuddy:*'), Buffer.from('[-+]sdown')]);
  client.written.length = 0;
  return client;
}

function count(client: FakeSubscriber, text: string): number {
  return client.text().split(text).length - 1;
}

const RESUMED = { epoch: 2, previousActive: OLD, active: NEW, unplanned: true };

describe('pub/sub tells each event once per port', () => {
  it('an event from the engine is not told again when it comes back from etcd, nor the reverse', () => {
    const hub = new PubSubHub({ logger: silent });
    const client = subscriber(hub);
    const sink = hub.sink(CHANNEL);
    const down = event('master.down', 'down-1');
    sink.deliver(down);
    assert.equal(hub.relayed(CHANNEL, down, false), false, 'its own event read back from etcd');
    sink.deliver(down);
    assert.equal(count(client, '"id":"down-1"'), 1);

    // A follower hears it from etcd first; leading, its engine sends it again (same id).
    const completed = event('failover.completed', 'completed-1');
    assert.equal(hub.relayed(CHANNEL, completed, true), true);
    sink.deliver(completed);
    assert.equal(hub.relayed(CHANNEL, completed, true), false);
    assert.equal(count(client, '"id":"completed-1"'), 1);
    assert.equal(count(client, SWITCH_MASTER), 1, '+switch-master once');
  });

  it('a relayed switch tells of the master going down as the leader recorded it', () => {
    for (const unplanned of [true, false]) {
      // What this instance last read of the state says the opposite: it is not asked.
      const hub = new PubSubHub({
        logger: silent,
        currentSwitch: () => ({ ...RESUMED, unplanned: !unplanned }),
      });
      const client = subscriber(hub);
      hub.relayed(CHANNEL, event('failover.completed', `c-${unplanned}`), unplanned);
      assert.equal(count(client, '+sdown'), unplanned ? 1 : 0, `unplanned: ${unplanned}`);
      assert.equal(count(client, SWITCH_MASTER), 1);
    }
  });

  it('a new leader that told a switch as a follower does not publish it again when it resumes it', () => {
    const hub = new PubSubHub({ logger: silent });
    const client = subscriber(hub);
    hub.relayed(CHANNEL, event('failover.completed', 'completed-1'), true);
    assert.equal(count(client, SWITCH_MASTER), 1);

    hub.resumeSwitch('g1', RESUMED);
    assert.equal(count(client, SWITCH_MASTER), 1, 'not published again');
    assert.equal(count(client, '+sdown'), 1);
    // Whoever subscribes during the drain (from the instance that died) is still told, once.
    const late = new FakeSubscriber('late');
    hub.subscribe(late, [Buffer.from('+switch-master')]);
    assert.equal(count(late, SWITCH_MASTER), 1);
    // Retired: told no more.
    hub.sink(CHANNEL).deliver(event('standby.ready', 'ready-1'));
    const after = new FakeSubscriber('after');
    hub.subscribe(after, [Buffer.from('+switch-master')]);
    assert.equal(count(after, SWITCH_MASTER), 0);
  });

  it('a switch told before anyone subscribed is published when it is resumed', () => {
    // A restart sends the saved failover.completed again before its listeners open.
    const hub = new PubSubHub({ logger: silent });
    hub.sink(CHANNEL).deliver(event('failover.completed', 'completed-1'));
    const client = subscriber(hub);
    hub.resumeSwitch('g1', RESUMED);
    assert.equal(count(client, SWITCH_MASTER), 1);
  });

  it('a switch resumed first: its failover.completed from etcd tells only the JSON', () => {
    // The old leader recorded the switch and died before this instance read it; leading, this
    // one resumed the switch, then reads the event.
    const hub = new PubSubHub({ logger: silent });
    const client = subscriber(hub);
    hub.resumeSwitch('g1', RESUMED);
    assert.equal(hub.relayed(CHANNEL, event('failover.completed', 'completed-1'), true), true);
    assert.equal(count(client, '"id":"completed-1"'), 1);
    assert.equal(count(client, SWITCH_MASTER), 1);
    // A later switch (another epoch) is told as usual.
    const back = {
      ...event('failover.completed', 'completed-2', 3),
      data: { active: OLD, standby: NEW, master: '10.0.0.2:6379', previousActive: NEW },
    };
    hub.relayed(CHANNEL, back, false);
    assert.equal(count(client, 'g1 10.0.0.6 6380 10.0.0.5 6379'), 1);
  });

  it('only a resumed switch is held back by its epoch: a new event of an epoch seen before is told', () => {
    // Epochs start again when the group's state is lost and rebuilt from the nodes.
    const hub = new PubSubHub({ logger: silent });
    const client = subscriber(hub);
    const sink = hub.sink(CHANNEL);
    sink.deliver(event('failover.completed', 'completed-1'));
    sink.deliver({
      ...event('failover.completed', 'completed-2', 3),
      data: { active: OLD, standby: NEW, master: '10.0.0.2:6379', previousActive: NEW },
    });
    sink.deliver(event('failover.completed', 'completed-after-reset'));
    assert.equal(count(client, SWITCH_MASTER), 2);
  });

  it('remembers a bounded number of ids, forgetting the oldest first', () => {
    const hub = new PubSubHub({ logger: silent });
    const client = subscriber(hub);
    const sink = hub.sink(CHANNEL);
    for (let i = 0; i <= TOLD_IDS; i += 1) sink.deliver(event('master.up', `up-${i}`));
    sink.deliver(event('master.up', `up-${TOLD_IDS}`));
    assert.equal(count(client, `"id":"up-${TOLD_IDS}"`), 1, 'the newest is remembered');
    sink.deliver(event('master.up', 'up-0'));
    assert.equal(count(client, '"id":"up-0"'), 2, 'the oldest was forgotten');
  });
});

describe('SeenIds', () => {
  it('remembers up to its capacity, the oldest forgotten first', () => {
    const seen = new SeenIds(3);
    assert.equal(seen.add('a'), true);
    assert.equal(seen.add('a'), false);
    for (const id of ['b', 'c', 'd']) assert.equal(seen.add(id), true);
    assert.equal(seen.size, 3);
    assert.equal(seen.has('a'), false);
    assert.equal(seen.has('b'), true);
    // Adding again what is remembered does not make it younger, nor evict anything.
    assert.equal(seen.add('b'), false);
    assert.equal(seen.add('e'), true);
    assert.equal(seen.has('b'), false);
    assert.throws(() => new SeenIds(0), RangeError);
  });
});
