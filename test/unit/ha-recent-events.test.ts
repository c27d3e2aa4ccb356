// The group's recent events (src/ha/recent-events.ts, event-relay.ts): how a record reads back
// (garbage is never told), what one write holds (each id once, at most the last `max`), what is
// pruned, and which records an instance hands to its pub/sub — none of those there before it
// opened its port, each id once afterwards, also when a new leader writes after the old one's.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { waitFor } from '../../harness/wait-for.js';
import type { RecentEventsFeed } from '../../src/ha/etcd-recent-events.js';
import { EventRelay } from '../../src/ha/event-relay.js';
import {
  firstKept,
  parseRecentEvent,
  recentEventText,
  recordsToWrite,
  RelayCursor,
  type RecentEvent,
} from '../../src/ha/recent-events.js';
import type { RbuddyEvent } from '../../src/notify/events.js';

const silent = pino({ level: 'silent' });

function record(id: string, type: RbuddyEvent['type'] = 'master.down'): RecentEvent {
  return {
    event: {
      id,
      type,
      timestamp: '2026-01-01T00:00:00.000Z',
      group: 'g1',
      epoch: 3,
      data: { active: '10.0.0.6:6380', standby: '10.0.0.5:6379', master: '10.0.0.2:6379' },
    },
    unplanned: type === 'failover.completed',
  };
}

const ids = (records: readonly RecentEvent[]): string[] => records.map((r) => r.event.id);

describe('a recorded event', () => {
  it('reads back as written, the JSON of the event unchanged', () => {
    const written = record('a', 'failover.completed');
    written.event.data.previousActive = '10.0.0.5:6379';
    written.event.data.reason = 'planned';
    const parsed = parseRecentEvent(recentEventText(written));
    assert.ok(typeof parsed !== 'string', typeof parsed === 'string' ? parsed : '');
    assert.deepEqual(parsed, written);
    // Followers publish this text: byte for byte what the leader published.
    assert.equal(JSON.stringify(parsed.event), JSON.stringify(written.event));
  });

  it('garbage is not an event', () => {
    const good = JSON.parse(recentEventText(record('a'))) as Record<string, unknown>;
    for (const [text, why] of [
      ['{', 'not valid JSON'],
      ['[]', 'not a JSON object'],
      [JSON.stringify({ ...good, unplanned: 'yes' }), 'unplanned is not a boolean'],
      [JSON.stringify({ ...good, event: { id: 'x' } }), 'not an event: unknown type undefined'],
    ] as const) {
      assert.equal(parseRecentEvent(text), why);
    }
  });
});

describe('one write of recent events', () => {
  it('skips what etcd holds already (a retried write that landed), each id once', () => {
    const pending = [record('a'), record('b'), record('b'), record('c')];
    assert.deepEqual(ids(recordsToWrite(pending, new Set(['a']), 32)), ['b', 'c']);
    assert.deepEqual(recordsToWrite(pending, new Set(['a', 'b', 'c']), 32), []);
  });

  it('holds at most the last `max`, and prunes what falls out of them', () => {
    const pending = ['a', 'b', 'c', 'd', 'e'].map((id) => record(id));
    assert.deepEqual(ids(recordsToWrite(pending, new Set(), 3)), ['c', 'd', 'e']);
    // Written up to sequence 9 with 4 kept: 6..9 stay, 0..5 go.
    assert.equal(firstKept(9, 4), 6);
    assert.equal(firstKept(2, 4), 0, 'nothing to prune yet');
  });
});

describe('RelayCursor', () => {
  it('hands over nothing that was there at the first read, then each new id once, in order', () => {
    const cursor = new RelayCursor();
    assert.deepEqual(cursor.next([record('old-1'), record('old-2')]), []);
    assert.deepEqual(ids(cursor.next([record('old-1'), record('old-2'), record('a')])), ['a']);
    assert.deepEqual(ids(cursor.next([record('old-2'), record('a')])), [], 'pruned: nothing new');
    // A new leader writes after what the old one left (one of them its own read back).
    const list = [record('a'), record('b'), record('b'), record('c')];
    assert.deepEqual(ids(cursor.next(list)), ['b', 'c']);
  });

  it('remembers a bounded number of ids: enough for the records etcd keeps', () => {
    const cursor = new RelayCursor(4);
    cursor.next([]);
    const list = ['a', 'b', 'c', 'd'].map((id) => record(id));
    assert.equal(cursor.next(list).length, 4);
    assert.deepEqual(cursor.next(list), [], 'a list within the capacity: nothing twice');
    // etcd pruned 'a' as it added 'e': the cursor forgets 'a' too.
    assert.deepEqual(ids(cursor.next([...list.slice(1), record('e')])), ['e']);
    assert.deepEqual(ids(cursor.next([record('a')])), ['a'], 'forgotten: the memory is bounded');
  });
});

describe('EventRelay', () => {
  const relays: EventRelay[] = [];
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  });

  function fakeFeed(): RecentEventsFeed & {
    list: RecentEvent[];
    failing: boolean;
    reads: number;
    closed: boolean;
  } {
    return {
      list: [],
      failing: false,
      reads: 0,
      closed: false,
      append(added) {
        this.list.push(added);
      },
      read() {
        this.reads += 1;
        if (this.failing) return Promise.reject(new Error('etcd has no quorum'));
        return Promise.resolve([...this.list]);
      },
      close() {
        this.closed = true;
      },
    };
  }

  it('tells what appears after its start, once, through etcd failures; records with the switch', async () => {
    const feed = fakeFeed();
    feed.list.push(record('before'));
    const told: string[] = [];
    const relay = new EventRelay({
      feed,
      unplanned: (event) => event.type === 'failover.completed',
      pollMs: 5,
      onEvent: (r) => told.push(`${r.event.id}:${r.unplanned}`),
      logger: silent,
    });
    relays.push(relay);
    await relay.start();
    relay.deliver(record('x', 'failover.completed').event);
    feed.list.push(record('y'));
    await waitFor(() => told.length === 2, { what: 'the new events told' });
    assert.deepEqual(told, ['x:true', 'y:false']);
    feed.failing = true;
    const reads = feed.reads;
    await waitFor(() => feed.reads > reads + 2, { what: 'reads that fail' });
    feed.list.push(record('z'));
    feed.failing = false;
    await waitFor(() => told.length === 3, { what: 'the event after the failures' });
    assert.deepEqual(told, ['x:true', 'y:false', 'z:false']);
    await relay.stop();
    assert.equal(feed.closed, true, 'stopping closes the feed (nothing recorded after)');
  });

  it('a first read that failed is no read: what was there is not told at the first that works', async () => {
    const feed = fakeFeed();
    feed.list.push(record('old'));
    feed.failing = true;
    const told: string[] = [];
    const relay = new EventRelay({
      feed,
      unplanned: () => false,
      pollMs: 5,
      onEvent: (r) => told.push(r.event.id),
      logger: silent,
    });
    relays.push(relay);
    await relay.start();
    feed.failing = false;
    const reads = feed.reads;
    await waitFor(() => feed.reads > reads + 2, { what: 'reads that work' });
    feed.list.push(record('new'));
    await waitFor(() => told.length > 0, { what: 'the new event told' });
    assert.deepEqual(told, ['new']);
  });
});
