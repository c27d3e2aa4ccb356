// An active that stops applying the stream while its link stays up (CLIENT PAUSE WRITE: a replica
// then postpones its master link too, but answers reads) is visible: its session's lagMs grows
// with the time, one warning is logged past 10 s, and both fall back once it applies again.
// Reviewer R11c's P1: rbuddy said `healthy` for 25 s of such a stall and nothing showed it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startWriter, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { explainTopology, startTopology, type Topology } from '../helpers/topology.js';

describe('the lag in time of a replica that stops applying the stream', () => {
  let t: Topology;

  before(async () => {
    t = await startTopology();
    await t.follow(t.active);
    await t.waitForHealthy();
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('lagMs grows past 10 s while the active is paused, is logged, and falls back', async () => {
    const writer = startWriter(t.master.client(), { keyPrefix: 'lag' });
    const explain = (): string => explainTopology(t.rbuddy, [t.master, t.active, t.standby]);
    try {
      await waitFor(
        () => {
          const session = t.session(t.active);
          return (session?.lastAck?.offset ?? 0) > 100_000 && (session?.lagMs ?? 0) < 3_000;
        },
        { what: 'the active applying the stream (100 KB), with a small lag', explain },
      );
      await t.active.client().call('CLIENT', 'PAUSE', '60000', 'WRITE');
      const behind = await waitFor(
        () => {
          const lag = t.session(t.active)?.lagMs ?? 0;
          return lag >= 11_000 ? lag : undefined;
        },
        { what: 'lagMs past 11 s', timeoutMs: 60_000, explain },
      );
      assert.ok(behind >= 11_000);
      const warning = await waitFor(
        () =>
          t.rbuddy
            .logs()
            .find(
              (line) =>
                line.level === 'warn' &&
                String(line.msg).startsWith('the replica has not applied what was relayed'),
            ),
        { what: 'the warning', explain },
      );
      assert.equal(warning.replica, t.active.address);
      assert.ok(Number(warning.lagMs) >= 10_000);
      assert.equal(t.rbuddy.status().state, 'healthy', 'stale reads are served, not a fault');
      await t.active.client().call('CLIENT', 'UNPAUSE');
      await waitFor(() => (t.session(t.active)?.lagMs ?? Infinity) < 3_000, {
        what: 'the lag back under 3 s once the active applies the stream again',
        explain,
      });
    } finally {
      await t.active.client().call('CLIENT', 'UNPAUSE');
      await writer.stop();
    }
    await waitForInSync(t.master.client(), t.active.client());
  });
});
