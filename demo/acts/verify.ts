// Act 7: the reader and the writer stopped, then every claim of the story checked: the roles, the
// data, the write guards, rbuddy's states, events and timeline, and the reads.
import type { SessionStatus } from '../../src/proxy/session-types.js';
import type { EventRecord } from '../rbuddy-log.js';
import { heldStandby, waitForCaughtUp } from '../probes.js';
import { check, owned, t0, term } from '../run-state.js';
import { DATASET_MIB, EXPECTED_EVENTS, EXPECTED_STATES, EXPECTED_TIMELINE } from '../settings.js';
import { bytes, count, seconds } from '../terminal.js';
import { message, readerText, writerText } from '../texts.js';
import type { StorySoFar } from './story-so-far.js';

export interface Verified {
  /** Writes the master acknowledged over the whole run. */
  writes: number;
  /** rbuddy's events from the kill until it was healthy again. */
  events: EventRecord[];
  /** The snapshot of the standby's full sync through rbuddy. */
  standbySnap: SessionStatus['snapshot'];
}

export async function verify(story: StorySoFar): Promise<Verified> {
  const { master, server2, client1, client2, r1, r2 } = story.nodes;
  const { writer } = story.load;
  const { monitor, guardBefore } = story.started;
  const { done, healthyAgainAt } = story.recovery;
  const { reader, killedAt } = story;
  term.heading('7. Stop the reader and the writer, compare the datasets');
  await reader.stop();
  owned.reader = undefined;
  const writes = await writer.stop();
  owned.writer = undefined;
  monitor.note('reader', 'bold', `stopped: ${readerText(reader, monitor)}`);
  monitor.note('writer', 'dim', `stopped: ${writerText(writer)}`);
  monitor.flush();

  check(
    done.active === r2.address && done.standby === r1.address,
    `roles switched at epoch ${String(done.epoch)}: active ${monitor.nameOf(done.active)}, standby ${monitor.nameOf(done.standby)}`,
  );
  // INFO only while rbuddy watches: DEBUG DIGEST blocks the master for seconds on this dataset,
  // which the demo's 250 ms probe and 2 s grace would rightly take for a dead master.
  const caughtUp = await waitForCaughtUp(master, server2).then(
    () => undefined,
    (error: unknown) => message(error),
  );
  check(
    caughtUp === undefined,
    caughtUp ?? "replica2 (the new active) caught up: the master's replid, at its offset",
  );
  // The new standby refuses writes (whatever were written there would be flushed by its next
  // sync) and reads (it holds nothing any client should take for data).
  const retired = await heldStandby(client1, 'demo:standby-write');
  check(
    retired === undefined,
    retired ??
      'replica1 flushed and held: an empty replica of rbuddy, reads -MASTERDOWN, writes -READONLY',
  );
  // Both replicas start with the same settings: each has its own back, the new active and the
  // held standby alike (rbuddy's write guard is on neither).
  for (const [name, client] of [
    ['replica2', client2],
    ['replica1', client1],
  ] as const) {
    const guardAfter = (await client.config('GET', 'min-replicas-to-write')) as string[];
    check(
      JSON.stringify(guardAfter) === JSON.stringify(guardBefore),
      `${name}'s own settings restored: min-replicas-to-write ${String(guardAfter[1])}`,
    );
  }
  const doneAt = healthyAgainAt ?? Date.now();
  const during = <T extends { at: number }>(list: readonly T[]): T[] =>
    list.filter((x) => x.at >= killedAt && x.at <= doneAt);
  const states = [
    monitor.states.filter((c) => c.at < killedAt).at(-1)?.to ?? '?',
    ...during(monitor.states).map((c) => c.to),
  ];
  check(states.join(' ') === EXPECTED_STATES.join(' '), `rbuddy's states: ${states.join(' → ')}`);
  const events = during(monitor.events);
  const eventTypes = events.map((e) => e.type);
  const unexpected = events.filter((e) => !(EXPECTED_EVENTS as readonly string[]).includes(e.type));
  check(
    eventTypes.join(' ') === EXPECTED_EVENTS.join(' '),
    eventTypes.join(' ') === EXPECTED_EVENTS.join(' ')
      ? `events from the kill to healthy: ${eventTypes.join(', ')}`
      : `events from the kill to healthy: ${eventTypes.join(', ')}; expected ${EXPECTED_EVENTS.join(', ')}` +
          unexpected.map((e) => `; unexpected ${e.type} (${e.reason ?? 'no reason'})`).join(''),
  );
  const ids = new Set(monitor.events.map((e) => e.id));
  check(
    ids.size === monitor.events.length && monitor.events.every((e) => e.id !== '?'),
    `${monitor.events.length} events logged by rbuddy in all, each with its own id`,
  );
  const timeline = done.lastFailover?.timeline.map((t) => t.step) ?? [];
  check(
    timeline.join(' ') === EXPECTED_TIMELINE.join(' '),
    `/v1/status lastFailover.timeline: ${timeline.join(' → ')}`,
  );
  const targets = reader.targets.map((t) => monitor.nameOf(t.address));
  check(
    targets.join(' ') === 'replica1 replica2',
    `the reader read from ${targets.join(', then ')}`,
  );
  check(
    reader.failed === 0,
    `reads: ${count(reader.served)} served, ${count(reader.failed)} failed` +
      (reader.failures.length === 0
        ? ''
        : ` (${reader.failures
            .slice(0, 3)
            .map((f) => `${seconds(f.at - t0)}: ${f.error}`)
            .join('; ')})`),
  );
  const standbySnap =
    monitor.sessions(r2).find((r) => r.reply === 'fullresync' && r.snapshot !== null)?.snapshot ??
    null;
  check(
    standbySnap !== null &&
      standbySnap.size !== null &&
      standbySnap.transferred === standbySnap.size &&
      standbySnap.size >= DATASET_MIB * 1024 * 1024,
    `replica2 full-synced through rbuddy: a ${bytes(standbySnap?.size ?? 0)} snapshot relayed completely`,
  );
  const final = await monitor.poll();
  const later = monitor.events.filter((e) => e.at > doneAt);
  check(
    final?.state === 'healthy' && later.length === 0,
    `rbuddy still ${String(final?.state)}, no event since` +
      later.map((e) => `; then ${e.type} (${e.reason ?? 'no reason'})`).join(''),
  );
  await monitor.stop();
  owned.monitor = undefined;
  return { writes, events, standbySnap };
}
