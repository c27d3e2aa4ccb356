// Pub/sub on the proxy's port: Redis glob semantics for PSUBSCRIBE, the reply shapes clients
// parse, event fan-out (--channel JSON and +switch-master), and dropping a subscriber that does
// not read (bounded memory).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { globMatch } from '../../src/discovery/glob.js';
import {
  MAX_NAME_BYTES,
  MAX_SUBSCRIPTIONS,
  PubSubHub,
  switchMasterMessage,
} from '../../src/discovery/pubsub-hub.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { FakeSubscriber } from '../helpers/fake-subscriber.js';

const silent = pino({ level: 'silent' });
const g = (pattern: string, subject: string): boolean =>
  globMatch(Buffer.from(pattern), Buffer.from(subject));

const OLD = '10.0.0.5:6379';
/** The data of the events after a switch from OLD to 10.0.0.6:6380. */
const SWITCHED: RbuddyEvent['data'] = {
  active: '10.0.0.6:6380',
  standby: OLD,
  master: '10.0.0.2:6379',
  previousActive: OLD,
};

/** One event of each type (its id names it): the hub tells each id once. */
function event(type: RbuddyEvent['type'], data: RbuddyEvent['data']): RbuddyEvent {
  const id = `e-${type}`;
  return { id, type, timestamp: '2026-01-01T00:00:00.000Z', group: 'g1', epoch: 2, data };
}

describe('globMatch (Redis stringmatchlen rules)', () => {
  it('matches *, ?, classes, ranges, negation and escapes', () => {
    assert.equal(g('*', ''), true);
    assert.equal(g('rbuddy*', 'rbuddy:events'), true);
    assert.equal(g('rbuddy*', 'xrbuddy'), false);
    assert.equal(g('+switch-*', '+switch-master'), true);
    assert.equal(g('h?llo', 'hello'), true);
    assert.equal(g('h?llo', 'hllo'), false);
    assert.equal(g('h[ae]llo', 'hallo'), true);
    assert.equal(g('h[ae]llo', 'hillo'), false);
    assert.equal(g('h[^e]llo', 'hallo'), true);
    assert.equal(g('h[^e]llo', 'hello'), false);
    assert.equal(g('h[a-c]llo', 'hbllo'), true);
    assert.equal(g('h[c-a]llo', 'hbllo'), true);
    assert.equal(g('h[a-c]llo', 'hdllo'), false);
    assert.equal(g('a\\*b', 'a*b'), true);
    assert.equal(g('a\\*b', 'axb'), false);
    assert.equal(g('a*b*c', 'a/x/b/y/c'), true);
    assert.equal(g('a*b*c', 'a/x/b/y/d'), false);
  });

  it('gives up (no match) on pathological patterns instead of stalling', () => {
    const pattern = `${'*a'.repeat(30)}b`;
    assert.equal(g(pattern, 'a'.repeat(60)), false);
  });
});

describe('PubSubHub', () => {
  it('caps the subscriptions one connection holds, and the length of a name', () => {
    // Found by review: 300,000 distinct channels in 10 s grew rbuddy by 300 MB.
    const hub = new PubSubHub({ logger: silent });
    const client = new FakeSubscriber('c1');
    const names = Array.from({ length: MAX_SUBSCRIPTIONS + 10 }, (_, i) => Buffer.from(`ch${i}`));
    hub.subscribe(client, names);
    assert.equal(client.subscriptions, MAX_SUBSCRIPTIONS);
    hub.psubscribe(client, [Buffer.from('p*')]);
    assert.equal(client.subscriptions, MAX_SUBSCRIPTIONS, 'patterns count too');
    assert.equal(client.text().split('-ERR rbuddy: at most').length - 1, 11);
    hub.subscribe(client, [Buffer.from('ch0')]);
    assert.equal(client.subscriptions, MAX_SUBSCRIPTIONS, 'one already held is confirmed again');

    const other = new FakeSubscriber('c2');
    hub.subscribe(other, [Buffer.alloc(MAX_NAME_BYTES + 1, 97), Buffer.from('ok')]);
    assert.equal(other.subscriptions, 1, 'the overlong name refused, the next one held');
  });

  it('confirms SUBSCRIBE/UNSUBSCRIBE with Redis reply shapes and counts', () => {
    const hub = new PubSubHub({ logger: silent });
    const client = new FakeSubscriber('c1');
    hub.subscribe(client, [Buffer.from('a'), Buffer.from('b')]);
    assert.equal(client.subscriptions, 2);
    hub.psubscribe(client, [Buffer.from('x*')]);
    assert.equal(client.subscriptions, 3);
    hub.unsubscribe(client, []);
    hub.punsubscribe(client, []);
    hub.punsubscribe(client, []);
    assert.equal(client.subscriptions, 0);
    assert.equal(
      client.text(),
      '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n' +
        '*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n' +
        '*3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:3\r\n' +
        '*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n' +
        '*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n' +
        '*3\r\n$12\r\npunsubscribe\r\n$2\r\nx*\r\n:0\r\n' +
        '*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n',
    );
    assert.equal(hub.subscriberCount, 0);
  });

  it('delivers message and pmessage to matching subscribers only', () => {
    const hub = new PubSubHub({ logger: silent });
    const exact = new FakeSubscriber('exact');
    hub.subscribe(exact, [Buffer.from('rbuddy')]);
    const pattern = new FakeSubscriber('pattern');
    hub.psubscribe(pattern, [Buffer.from('rb*')]);
    const other = new FakeSubscriber('other');
    hub.subscribe(other, [Buffer.from('elsewhere')]);
    for (const c of [exact, pattern, other]) c.written.length = 0;

    assert.equal(hub.publish('rbuddy', 'hi'), 2);
    assert.equal(exact.text(), '*3\r\n$7\r\nmessage\r\n$6\r\nrbuddy\r\n$2\r\nhi\r\n');
    assert.equal(
      pattern.text(),
      '*4\r\n$8\r\npmessage\r\n$3\r\nrb*\r\n$6\r\nrbuddy\r\n$2\r\nhi\r\n',
    );
    assert.equal(other.text(), '');
  });

  it('forgets a subscriber whose connection closed', () => {
    const hub = new PubSubHub({ logger: silent });
    const client = new FakeSubscriber('c');
    hub.subscribe(client, [Buffer.from('ch')]);
    client.close();
    assert.equal(hub.subscriberCount, 0);
    assert.equal(hub.publish('ch', 'x'), 0);
  });

  it('drops a subscriber that does not read once its output passes the limit', () => {
    const hub = new PubSubHub({ logger: silent, outputLimitBytes: 1000 });
    const slow = new FakeSubscriber('slow');
    hub.subscribe(slow, [Buffer.from('ch')]);
    const fine = new FakeSubscriber('fine');
    hub.subscribe(fine, [Buffer.from('ch')]);
    slow.pending = 1000; // at the limit: still served
    assert.equal(hub.publish('ch', 'x'), 2);
    assert.equal(slow.destroyed, false);
    slow.pending = 5000; // past it: closed, and no longer counted
    assert.equal(hub.publish('ch', 'y'), 1);
    assert.equal(slow.destroyed, true);
    assert.equal(fine.destroyed, false);
    assert.equal(hub.dropped, 1);
    assert.equal(hub.subscriberCount, 1);
    assert.equal(hub.publish('ch', 'z'), 1);
  });

  it('publishes every event on the channel and +switch-master on failover.completed', () => {
    const hub = new PubSubHub({ logger: silent });
    const client = new FakeSubscriber('c');
    hub.subscribe(client, [Buffer.from('rbuddy'), Buffer.from('+switch-master')]);
    client.written.length = 0;
    const sink = hub.sink('rbuddy');
    const completed = event('failover.completed', {
      active: '10.0.0.6:6380',
      standby: '10.0.0.5:6379',
      master: '10.0.0.2:6379',
      previousActive: '10.0.0.5:6379',
    });
    sink.deliver(event('master.down', { active: 'a:1', standby: 'b:2', master: 'm:3' }));
    sink.deliver(completed);
    const text = client.text();
    assert.ok(text.includes('"type":"master.down"'));
    assert.ok(text.includes(JSON.stringify(completed)));
    assert.ok(text.includes('$14\r\n+switch-master\r\n$30\r\ng1 10.0.0.5 6379 10.0.0.6 6380\r\n'));
    assert.equal((text.match(/\+switch-master/g) ?? []).length, 1);
  });

  it('tells of the master going down as the persisted record says, not the events it saw', () => {
    // A restarted process never saw active.promoted; the record says the switch was unplanned.
    const record = { previousActive: '10.0.0.5:6379', active: '10.0.0.6:6380', epoch: 2 };
    for (const unplanned of [true, false]) {
      const hub = new PubSubHub({
        logger: silent,
        currentSwitch: () => ({ ...record, unplanned }),
      });
      const client = new FakeSubscriber('c');
      hub.psubscribe(client, [Buffer.from('*')]);
      const sink = hub.sink('rbuddy');
      // The event this process saw says the opposite of the record.
      if (!unplanned) sink.deliver(event('active.promoted', { ...SWITCHED, active: OLD }));
      sink.deliver(event('failover.completed', SWITCHED));
      assert.equal(client.text().includes('+sdown'), unplanned, `unplanned: ${unplanned}`);
      assert.equal(client.text().includes('-odown'), unplanned, `unplanned: ${unplanned}`);
    }
  });

  it('tells a resumed switch to whoever subscribes during its drain, once, until it is retired', () => {
    const hub = new PubSubHub({ logger: silent });
    const early = new FakeSubscriber('early');
    hub.subscribe(early, [Buffer.from('+switch-master')]);
    hub.resumeSwitch('g1', {
      epoch: 2,
      previousActive: OLD,
      active: '10.0.0.6:6380',
      unplanned: true,
    });
    const switchMaster = '$14\r\n+switch-master\r\n$30\r\ng1 10.0.0.5 6379 10.0.0.6 6380\r\n';
    assert.ok(early.text().includes(switchMaster), 'published to those subscribed already');

    // Reconnected from the process that died: told right after its confirmation.
    const late = new FakeSubscriber('late');
    hub.subscribe(late, [Buffer.from('+switch-master'), Buffer.from('rbuddy')]);
    const text = late.text();
    assert.ok(text.indexOf(switchMaster) > text.indexOf('$6\r\nrbuddy\r\n:2\r\n'), text);
    hub.subscribe(late, [Buffer.from('+switch-master')]);
    assert.equal((late.text().match(/g1 10\.0\.0\.5 6379/g) ?? []).length, 1, 'told once');
    // A pattern hears every message it matches, as a pmessage.
    hub.psubscribe(late, [Buffer.from('[-+]odown')]);
    const odown = '$8\r\npmessage\r\n$9\r\n[-+]odown\r\n$6\r\n+odown\r\n';
    assert.ok(late.text().includes(odown), 'the pattern hears +odown');
    const cleared = '$9\r\n[-+]odown\r\n$6\r\n-odown\r\n$23\r\nmaster g1 10.0.0.5 6379\r\n';
    assert.ok(late.text().includes(cleared), 'the pattern hears -odown');

    // Retired: nobody is told any more.
    hub.sink('rbuddy').deliver(event('standby.ready', SWITCHED));
    const after = new FakeSubscriber('after');
    hub.subscribe(after, [Buffer.from('+switch-master')]);
    hub.psubscribe(after, [Buffer.from('*')]);
    assert.ok(!after.text().includes('10.0.0.6 6380'), after.text());
  });

  it('formats +switch-master for IPv6 without brackets', () => {
    const message = switchMasterMessage(
      event('failover.completed', { active: '[::1]:7001', standby: '[::1]:7000', master: 'm:1' }),
    );
    assert.equal(message, 'g1 ::1 7000 ::1 7001');
  });
});
