// The checks at the end of a run, over the whole history: rbuddy settles (healthy, its webhook
// outbox empty) once the last fault is healed; every failover.completed of the run reached the
// webhook receiver, signed, once per event id and one id per epoch; the epochs recorded only grew.
import type { Checker } from './checker.js';
import type { Observer } from './observer.js';
import type { ChaosTopology } from './topology.js';
import type { RbuddyEvent } from '../src/notify/events.js';

const SETTLE_MS = 120_000;

/**
 * Waits for rbuddy to be healthy with nothing pending and its active's link streaming (a link
 * still in its handshake after a master restart may yet be refused a PSYNC, and fail over):
 * `true`, or what it last said.
 */
export async function settle(topo: ChaosTopology, observer: Observer): Promise<true | string> {
  const deadline = Date.now() + SETTLE_MS;
  let last = 'no answer from rbuddy';
  while (Date.now() < deadline) {
    const status = await topo.status();
    if (status !== undefined) {
      const pending = status.notifications.webhooks.reduce((sum, hook) => sum + hook.pending, 0);
      const streaming = status.sessions.some(
        (session) => session.replica === status.active && session.phase === 'streaming',
      );
      if (status.state === 'healthy' && pending === 0 && streaming) return true;
      last = `state ${status.state} (${status.reason ?? ''}), ${pending} webhook(s) pending, the active's link ${streaming ? 'streaming' : 'not streaming'}`;
    }
    await observer.tick();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return last;
}

export function finalChecks(
  topo: ChaosTopology,
  checker: Checker,
  firstEpoch: number | null,
  settled: true | string,
): void {
  checker.check(
    'rbuddy settles after the last fault',
    settled === true,
    `120 s after the last fault: ${String(settled)}`,
  );

  const attempts = topo.receiver.attempts;
  checker.check(
    'webhooks signed (Standard Webhooks)',
    attempts.every((attempt) => attempt.verified),
    'an unverifiable webhook request',
    { unverified: attempts.filter((a) => !a.verified).map((a) => a.verifyError) },
  );
  const completed = topo.receiver
    .delivered()
    .filter((event: RbuddyEvent) => event.type === 'failover.completed');
  const byEpoch = new Map<number, string[]>();
  for (const event of completed)
    byEpoch.set(event.epoch, [...(byEpoch.get(event.epoch) ?? []), event.id]);
  const ops = checker.history.ops.filter((op) => op.kind === 'epoch');
  const lastEpoch = ops.length === 0 ? firstEpoch : Number(ops.at(-1)?.data?.to);
  let previous = firstEpoch ?? 0;
  for (const op of ops) {
    const to = Number(op.data?.to);
    checker.check('epochs only grow (history)', to > previous, 'epoch went back', {
      from: previous,
      to,
    });
    previous = to;
  }
  for (let epoch = (firstEpoch ?? 0) + 1; epoch <= (lastEpoch ?? 0); epoch += 1) {
    const ids = byEpoch.get(epoch) ?? [];
    checker.check(
      'failover.completed delivered once per epoch',
      ids.length === 1,
      `epoch ${epoch}: ${ids.length} distinct failover.completed deliveries`,
      { ids },
    );
  }
  const unexpected = [...byEpoch.keys()].filter(
    (e) => e <= (firstEpoch ?? 0) || e > (lastEpoch ?? 0),
  );
  checker.check('no failover.completed for an epoch that never was', unexpected.length === 0, '', {
    epochs: unexpected,
  });
  webhookRepeats(topo, checker);
}

/**
 * A run is evidence only if it did what it says: the steady writer wrote until the end (a dead
 * writer leaves every digest check trivially equal), faults were injected, and reads through the
 * active were checked. Otherwise the run fails, saying which (a run ended at once by Ctrl-C too).
 */
export function runWasReal(topo: ChaosTopology, checker: Checker): void {
  const writer = topo.writer;
  checker.check(
    'the steady writer wrote throughout',
    writer !== undefined && writer.exitCode === null && writer.signalCode === null,
    `the writer on the master is gone (exit ${String(writer?.exitCode)}, signal ${String(writer?.signalCode)}): nothing was written since`,
  );
  let faults = 0;
  for (const count of checker.faults.values()) faults += count;
  const reads = checker.checks.get('I1 the active answers with the data') ?? 0;
  checker.check(
    'the run tested something',
    faults > 0 && reads > 0,
    `${faults} faults injected, ${reads} reads of the active checked: the run proves nothing`,
  );
}

/**
 * Each event id acknowledged more than once: allowed (at-least-once) only when rbuddy was killed
 * or stopped between the first acknowledgement and the repeat, a second before the first
 * included (killed after the receiver answered, before rbuddy read the answer). Any other repeat
 * is a violation: "exactly once per event id after rbuddy's last restart settles".
 */
const RBUDDY_DOWN = new Set(['kill-rbuddy', 'stop-rbuddy']);

export function webhookRepeats(topo: ChaosTopology, checker: Checker): void {
  const acks = new Map<string, number[]>();
  for (const attempt of topo.receiver.attempts) {
    if (typeof attempt.answered !== 'number' || attempt.answered >= 300) continue;
    acks.set(attempt.id, [...(acks.get(attempt.id) ?? []), checker.history.at(attempt.at)]);
  }
  // A kill or a stop of rbuddy itself: a planned switch is recorded on node `rbuddy` too, and
  // excused a repeat it cannot cause (reviewer R11c, C2).
  const rbuddyFaults = checker.history.ops
    .filter((op) => op.kind === 'fault-start' && RBUDDY_DOWN.has(String(op.data?.fault)))
    .map((op) => op.t);
  for (const [id, times] of acks) {
    const [first, ...repeats] = times;
    if (first === undefined) continue;
    for (const at of repeats) {
      const excused = rbuddyFaults.some((t) => t >= first - 1000 && t <= at);
      checker.check(
        'a webhook id acknowledged once (a repeat only across a kill or stop of rbuddy)',
        excused,
        `event ${id} acknowledged again at ${Math.round(at)} ms (first at ${Math.round(first)} ms) with no kill or stop of rbuddy in between`,
        { id, first, at },
      );
    }
  }
}

/** Redeliveries of one event id (at-least-once after a crash or a stopped rbuddy: information). */
export function redeliveries(topo: ChaosTopology): number {
  let extra = 0;
  for (const count of topo.receiver.ackCounts().values()) extra += Math.max(0, count - 1);
  return extra;
}
