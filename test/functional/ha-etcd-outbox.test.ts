// The webhook outbox in etcd against a real 3-member cluster: what one instance stored, the next
// leader reads back in order; marking an event delivered holds only for the leader (a deposed
// one's removal changes nothing, so the new leader sends it again under the same id); and
// WebhookNotifier delivers through it when given the etcd outbox factory.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { waitFor } from '../../harness/wait-for.js';
import { errorCode } from '../../src/errors.js';
import type { EtcdCoordination } from '../../src/ha/etcd-coordination.js';
import { CoordinationRig } from '../helpers/etcd-coordination-rig.js';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { OUTBOX_LIMIT, type OutboxEntry } from '../../src/notify/outbox.js';
import { WebhookNotifier } from '../../src/notify/webhooks.js';
import { silent } from '../helpers/engine-harness.js';

const LEASE_MS = 4_000;
const rig = new CoordinationRig(LEASE_MS);

function instance(group: string, id: string): EtcdCoordination {
  return rig.instance(group, id);
}

function event(epoch: number): RbuddyEvent {
  return {
    id: randomUUID(),
    type: 'master.down',
    timestamp: new Date().toISOString(),
    group: 'g',
    epoch,
    data: { active: '10.0.0.6:6379', standby: '10.0.0.5:6379', master: '10.0.0.2:6379' },
  };
}

async function stored(entry: OutboxEntry | undefined): Promise<OutboxEntry> {
  assert.ok(entry !== undefined);
  await entry.persisted;
  return entry;
}

describe('the webhook outbox in etcd', () => {
  rig.hooks();

  it('survives its writer; only the leader marks an event delivered', async () => {
    const a = instance('outbox', 'a');
    await a.start();
    await waitFor(() => a.mayAct(), { what: 'a leads' });
    const outboxA = a.outboxFactory(silent)('webhook-0123');
    assert.deepEqual(await outboxA.load(), []);
    const first = await stored(outboxA.add(event(1)));
    const second = await stored(outboxA.add(event(2)));
    assert.equal(outboxA.add(first.event), undefined, 'one entry per event id');

    const b = instance('outbox', 'b');
    await b.start();
    const outboxB = b.outboxFactory(silent)('webhook-0123');
    const loaded = await outboxB.load();
    assert.deepEqual(
      loaded.map((e) => [e.event.id, e.body]),
      [
        [first.event.id, first.body],
        [second.event.id, second.body],
      ],
    );
    // b does not lead: its removal changes nothing.
    await assert.rejects(outboxB.remove(first), (error) => {
      assert.equal(errorCode(error), 'RBUDDY_ERR_NOT_LEADER');
      return true;
    });
    await outboxA.remove(first);
    assert.deepEqual(
      (await outboxB.load()).map((e) => e.event.id),
      [second.event.id],
    );

    // a deposed (its lease gone behind its back): b leads, a's removal is refused by etcd.
    const stale = a.guard();
    assert.ok(stale !== undefined);
    await rig.direct.leaseClient.leaseRevoke({ ID: stale.leaseId });
    await waitFor(() => b.mayAct(), { what: 'b leads' });
    await assert.rejects(outboxA.remove(second), (error) => {
      assert.equal(errorCode(error), 'RBUDDY_ERR_NOT_LEADER');
      return true;
    });
    const left = await b.outboxFactory(silent)('webhook-0123').load();
    assert.deepEqual(
      left.map((e) => e.event.id),
      [second.event.id],
    );
    // New entries go after what is there, whoever adds them.
    const third = await stored(outboxB.add(event(3)));
    assert.ok(third.seq > second.seq);
  });

  it('an add whose first attempt was applied after all keeps its sequence number', async () => {
    // The client tries a transaction again on another member when the first did not answer in
    // time; the first may have been applied: the retry then finds the key taken by this very
    // entry, which must not move to the next number (a second copy of the event).
    const d = instance('retried', 'd');
    await d.start();
    await waitFor(() => d.mayAct(), { what: 'd leads' });
    const outbox = d.outboxFactory(silent)('webhook-retried');
    assert.deepEqual(await outbox.load(), []);
    const sent = event(7);
    await rig.direct
      .put(`${d.keys.outbox('webhook-retried')}${'0'.padStart(16, '0')}`)
      .value(JSON.stringify(sent));
    const entry = await stored(outbox.add(sent));
    assert.equal(entry.seq, 0);
    const loaded = await d.outboxFactory(silent)('webhook-retried').load();
    assert.deepEqual(
      loaded.map((e) => [e.seq, e.event.id]),
      [[0, sent.id]],
    );
  });

  it('an outbox past one etcd message (4 MiB) and past its limit loads in pages: the newest OUTBOX_LIMIT, in order; the oldest deleted', async () => {
    // Reviewer round 6, F1: read in one range, about 13,500 entries failed past the client's
    // 4 MiB message limit, and with it every takeover.
    const e = instance('big', 'e');
    await e.start();
    await waitFor(() => e.mayAct(), { what: 'e leads' });
    const prefix = e.keys.outbox('webhook-big');
    const total = OUTBOX_LIMIT + 300;
    const ids: string[] = [];
    for (let from = 0; from < total; from += 100) {
      const txn = rig.direct.if(`${prefix}none`, 'Create', '==', 0);
      const puts = [];
      for (let seq = from; seq < Math.min(total, from + 100); seq += 1) {
        // The first 700 large: those alone are over 4 MiB.
        const big = {
          ...event(seq),
          data: { ...event(seq).data, reason: 'x'.repeat(seq < 700 ? 7_000 : 10) },
        };
        ids.push(big.id);
        puts.push(
          rig.direct.put(`${prefix}${String(seq).padStart(16, '0')}`).value(JSON.stringify(big)),
        );
      }
      await txn.then(...puts).commit();
    }
    const outbox = e.outboxFactory(silent)('webhook-big');
    const loaded = await outbox.load();
    assert.equal(loaded.length, OUTBOX_LIMIT);
    assert.deepEqual(
      loaded.map((entry) => entry.event.id),
      ids.slice(total - OUTBOX_LIMIT),
      'the newest, oldest first',
    );
    assert.equal(loaded[0]?.seq, total - OUTBOX_LIMIT);
    const left = await rig.direct.getAll().prefix(prefix).count();
    assert.equal(left, OUTBOX_LIMIT, 'the oldest 300 deleted from etcd');
    const next = await stored(outbox.add(event(1)));
    assert.ok(next.seq >= total, 'new entries go after every number used');
  });

  it('WebhookNotifier delivers through the etcd outbox and clears it', async () => {
    const c = instance('notifier', 'c');
    await c.start();
    await waitFor(() => c.mayAct(), { what: 'c leads' });
    const received: string[] = [];
    const notifier = new WebhookNotifier({
      urls: ['http://hooks.invalid/rbuddy?token=secret'],
      secret: '',
      stateDir: '/nonexistent-state-dir',
      timeoutMs: 1_000,
      logger: silent,
      outboxFactory: c.outboxFactory(silent),
      fetch: (_url, init) => {
        received.push(typeof init?.body === 'string' ? init.body : '');
        return Promise.resolve(new Response(null, { status: 204 }));
      },
    });
    try {
      await notifier.start();
      const sent = event(5);
      await notifier.store(sent);
      await waitFor(() => received.length === 1, { what: 'the event delivered' });
      assert.equal((JSON.parse(received[0] ?? '{}') as { id?: unknown }).id, sent.id);
      const prefix = `${c.keys.root}outbox/`;
      assert.equal((await rig.direct.getAll().prefix(prefix).keys()).length <= 1, true);
      await waitFor(async () => (await rig.direct.getAll().prefix(prefix).keys()).length === 0, {
        what: 'the delivered entry removed from etcd',
      });
    } finally {
      await notifier.close();
    }
  });
});
