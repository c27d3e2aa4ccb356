// A replica that stops reading mid-snapshot (SIGSTOP) must slow the proxy's read from the
// master, not grow the proxy's memory; when it resumes, the sync completes byte-exact.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitForInSync } from '../../harness/replication.js';
import { startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const MB = 1024 * 1024;

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

test('a replica paused mid-snapshot holds the proxy memory bounded, then completes', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no', rdbcompression: 'no' },
    populate: { megabytes: 100 },
  });
  await t.follow(t.active);
  // Stop the replica once +FULLRESYNC has passed: the master is still writing its RDB, so no
  // snapshot byte can have reached the replica yet, however fast loopback is.
  await t.waitForPhase(t.active, 'waiting-snapshot');
  t.active.pause();
  try {
    // Wait until the proxy has stopped relaying: the transfer stands still while the replica
    // is stopped (the kernel buffers fill, then the proxy stops reading the master).
    let last = -1;
    let stableSamples = 0;
    await waitFor(
      () => {
        const transferred = t.session(t.active)?.snapshot?.transferred ?? 0;
        stableSamples = transferred > 0 && transferred === last ? stableSamples + 1 : 0;
        last = transferred;
        return stableSamples >= 10;
      },
      { what: 'the relay to stall behind the stopped replica', intervalMs: 100 },
    );
    const stalled = t.session(t.active);
    assert.ok(stalled !== undefined);
    assert.ok(stalled.snapshot !== null);
    assert.ok(
      stalled.snapshot.transferred < (stalled.snapshot.size ?? 0),
      'the snapshot was not fully relayed while the replica was stopped',
    );
    // What the proxy holds for the stopped replica: a socket buffer's worth, never the snapshot.
    assert.ok(
      stalled.buffered.peakToReplica < 4 * MB,
      `peak buffered toward the replica: ${stalled.buffered.peakToReplica} bytes`,
    );
    assert.ok(stalled.buffered.toReplica < 4 * MB);
  } finally {
    t.active.resume();
  }
  await waitForInSync(t.master.client(), t.active.client());
  const done = t.session(t.active);
  assert.equal(done?.phase, 'streaming');
  assert.ok((done?.buffered.peakToReplica ?? Infinity) < 4 * MB);
});
