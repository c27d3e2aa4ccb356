// RoundLoop.between (src/standby/round-loop.ts): a task run between two rounds never overlaps one.
// An HA leader's repointing round (src/ha/repoint-round.ts) runs so, and must not interleave its
// REPLICAOFs with a failover round's commands to the same node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoundLoop } from '../../src/standby/round-loop.js';

/** A promise with its resolve, to hold a round or a task open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Resolves once `check` holds, turning the event loop meanwhile. */
async function until(check: () => boolean): Promise<void> {
  for (let turns = 0; !check(); turns += 1) {
    if (turns > 10_000) throw new Error('never happened');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('a task waits for the round under way, and the next round waits for the task', async () => {
  const log: string[] = [];
  const rounds = [gate(), gate()];
  let started = 0;
  const loop = new RoundLoop({
    tickMs: () => 0,
    retry: () => 0,
    round: async () => {
      const index = started;
      started += 1;
      log.push(`round ${index} begins`);
      await rounds[index]?.promise;
      log.push(`round ${index} ends`);
      return false;
    },
    failed: () => undefined,
  });
  loop.start();
  await until(() => started === 1);
  const task = gate();
  const done = loop.between(async () => {
    log.push('task begins');
    await task.promise;
    log.push('task ends');
    return 'repointed';
  });
  // The round under way holds the task back.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['round 0 begins']);
  rounds[0]?.open();
  await until(() => log.includes('task begins'));
  // The task holds the next round back.
  for (let turn = 0; turn < 50; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started, 1, 'no round while the task runs');
  task.open();
  assert.equal(await done, 'repointed');
  await until(() => started === 2);
  rounds[1]?.open();
  const stopped = loop.stop();
  await stopped;
  assert.deepEqual(log, [
    'round 0 begins',
    'round 0 ends',
    'task begins',
    'task ends',
    'round 1 begins',
    'round 1 ends',
  ]);
});

test('a task that fails does not stop the rounds, and runs at once while the loop is stopped', async () => {
  let rounds = 0;
  const loop = new RoundLoop({
    tickMs: () => 0,
    retry: () => 0,
    round: async () => {
      rounds += 1;
      await new Promise((resolve) => setImmediate(resolve));
      return false;
    },
    failed: () => undefined,
  });
  assert.equal(await loop.between(() => Promise.resolve('before start')), 'before start');
  loop.start();
  await assert.rejects(
    loop.between(() => Promise.reject(new Error('REPLICAOF failed'))),
    /REPLICAOF failed/,
  );
  const seen = rounds;
  await until(() => rounds > seen + 1);
  await loop.stop();
});
