// The group's recent events in etcd against a real 3-member cluster (src/ha/etcd-recent-events.ts):
// the leader's records read back in order by any instance; etcd holds only the last `max` (the
// older pruned in the same transaction); an event recorded twice is there once; a follower, and a
// deposed leader, record nothing (the write is fenced); the next leader's go after what is there.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { waitFor } from '../../harness/wait-for.js';
import type { EtcdCoordination } from '../../src/ha/etcd-coordination.js';
import { CoordinationRig } from '../helpers/etcd-coordination-rig.js';
import type { RecentEvent } from '../../src/ha/recent-events.js';

const LEASE_MS = 4_000;
const rig = new CoordinationRig(LEASE_MS);

function instance(group: string, id: string): EtcdCoordination {
  return rig.instance(group, id);
}

function record(name: string): RecentEvent {
  return {
    event: {
      id: `${name}-${randomUUID()}`,
      type: 'master.down',
      timestamp: new Date().toISOString(),
      group: 'g',
      epoch: 1,
      data: { active: '10.0.0.6:6379', standby: '10.0.0.5:6379', master: '10.0.0.2:6379' },
    },
    unplanned: false,
  };
}

/** A debug logger whose lines the test reads. */
function capturing(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger: Logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

const refused = (lines: Array<Record<string, unknown>>, id: string): boolean =>
  lines.some(
    (line) =>
      line.msg === 'not recorded: this instance does not lead' &&
      Array.isArray(line.events) &&
      line.events.includes(id),
  );

describe('the recent events in etcd', () => {
  rig.hooks();

  it('keeps the last few, in order, each once; only the leader records them', async () => {
    const a = instance('recent', 'a');
    await a.start();
    await waitFor(() => a.mayAct(), { what: 'a leads' });
    const logA = capturing();
    const feedA = a.recentEvents(logA.logger, { max: 4 });
    const names = (records: RecentEvent[]): string[] =>
      records.map((r) => r.event.id.split('-')[0] ?? '');
    const recorded = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'].map(record);
    for (const r of recorded) feedA.append(r);
    await waitFor(async () => names(await feedA.read()).join() === 'e3,e4,e5,e6', {
      what: 'the last four recorded',
      explain: async () => JSON.stringify(names(await feedA.read())),
    });
    const keys = await rig.direct.getAll().prefix(a.keys.events).keys();
    assert.equal(keys.length, 4, `bounded: ${keys.join(' ')}`);

    // Recorded again (a retried write that landed), then a new one: each once.
    const sixth = recorded[5];
    assert.ok(sixth !== undefined);
    feedA.append(sixth);
    feedA.append(record('e7'));
    await waitFor(async () => names(await feedA.read()).join() === 'e4,e5,e6,e7', {
      what: 'e7 after e6, e6 once',
      explain: async () => JSON.stringify(names(await feedA.read())),
    });

    // b follows: it reads the same; what it records is refused.
    const b = instance('recent', 'b');
    await b.start();
    const logB = capturing();
    const feedB = b.recentEvents(logB.logger, { max: 4 });
    assert.deepEqual(await feedB.read(), await feedA.read());
    const byFollower = record('f1');
    feedB.append(byFollower);
    await waitFor(() => refused(logB.lines, byFollower.event.id), {
      what: "the follower's record refused",
    });

    // a deposed behind its back (its lease revoked): b leads; a's record is refused by etcd,
    // b's goes after what a left.
    const stale = a.guard();
    assert.ok(stale !== undefined);
    await rig.direct.leaseClient.leaseRevoke({ ID: stale.leaseId });
    await waitFor(() => b.mayAct(), { what: 'b leads' });
    const byDeposed = record('d1');
    feedA.append(byDeposed);
    await waitFor(() => refused(logA.lines, byDeposed.event.id), {
      what: "the deposed leader's record refused",
    });
    feedB.append(record('e8'));
    await waitFor(async () => names(await feedB.read()).join() === 'e5,e6,e7,e8', {
      what: "the new leader's record after the old one's",
      explain: async () => JSON.stringify(names(await feedB.read())),
    });
    feedA.close();
    feedB.close();
  });
});
