// Replicas full-sync and stream through the proxy with a disk-based (`$<len>`) snapshot:
// a 100 MB dataset of every type over several DBs, writes during the transfer, two replicas
// at once, ACKs reaching the master (WAIT), and a partial resync after a cut link. The idle
// standby is held outside a failover (docs/design.md, "Roles and states"), so its full sync is
// the one of a planned switch; a long drain keeps the old active streaming beside it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, masterStats, startWriter, waitForInSync } from '../../harness/replication.js';
import { startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

const MB = 1024 * 1024;
const TOKEN = 'relay-disk-sync-token';

describe('relay with a disk-based snapshot', () => {
  let t: Topology;

  before(async () => {
    t = await startTopology({
      // No RDB compression, so the snapshot really is ≥ 100 MB on the wire.
      masterArgs: { 'repl-diskless-sync': 'no', rdbcompression: 'no' },
      populate: { megabytes: 100, dbs: [0, 1, 2] },
      // Far longer than the file runs: after the switch both replicas stream until rbuddy stops.
      rbuddyArgs: ['--http-token', TOKEN, '--drain-ms', '3600000'],
    });
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('a replica following the proxy ends with the master dataset, byte-exact', async () => {
    await t.follow(t.active);
    await waitForInSync(t.master.client(), t.active.client());

    const session = await t.waitForPhase(t.active, 'streaming');
    assert.equal(session.snapshot?.format, 'disk');
    assert.ok(
      (session.snapshot?.size ?? 0) >= 100 * MB,
      `snapshot of ${session.snapshot?.size} bytes`,
    );
    assert.equal(session.snapshot?.transferred, session.snapshot?.size);
    const masterOffset = Number((await info(t.master.client(), 'replication')).master_repl_offset);
    await waitFor(() => t.session(t.active)?.offset === masterOffset, {
      what: 'the proxy offset to reach the master offset',
    });
    const replicaInfo = await info(t.active.client(), 'replication');
    assert.equal(Number(replicaInfo.master_repl_offset), masterOffset);
    assert.equal(replicaInfo.master_replid, session.replid);
  });

  test('writes during and after the snapshot converge (offsets and digests)', async () => {
    await t.waitForHealthy();
    const writer = startWriter(t.master.client(), { keyPrefix: 'during-sync' });
    // A planned switch releases the held standby: it full-syncs through the proxy.
    await requestPlannedSwitch(t.rbuddy.httpUrl, TOKEN);
    // Not waitForPhase('snapshot'): a 100 MB transfer lasts a fraction of a second and a poll
    // can miss it; streaming with a relayed snapshot proves the writes straddled it.
    const streaming = await t.waitForPhase(t.standby, 'streaming');
    assert.equal(streaming.snapshot?.format, 'disk', 'the standby took a full snapshot');
    // Keep writing a while after the snapshot so the command stream carries real traffic.
    const streamedBefore = t.session(t.standby)?.offset ?? 0;
    await waitFor(() => (t.session(t.standby)?.offset ?? 0) > streamedBefore + 100_000, {
      what: '100 KB of command stream after the snapshot',
    });
    const writes = await writer.stop();
    assert.ok(writes > 0, 'the writer wrote');
    assert.equal(writer.errors, 0);
    await waitForInSync(t.master.client(), t.standby.client());
    await waitForInSync(t.master.client(), t.active.client());
    // The switch: the standby is the active now, the old active drains (and keeps streaming).
    await waitFor(
      () =>
        t.rbuddy.status().state === 'switching' && t.rbuddy.status().active === t.standby.address,
      { what: 'the roles switched, the old active draining' },
    );
  });

  test('two replicas stream at the same time and their ACKs reach the master (WAIT)', async () => {
    const sessions = t.rbuddy.status().sessions;
    assert.deepEqual(sessions.map((s) => s.phase).sort(), ['streaming', 'streaming']);
    const master = t.master.client();
    await master.set('wait-probe', 'x');
    const acked = (await master.call('WAIT', '2', '5000')) as number;
    assert.equal(acked, 2);
    for (const replica of [t.active, t.standby]) {
      const session = t.session(replica);
      assert.ok(
        session?.lastAck !== null && session?.lastAck !== undefined,
        'ACK seen by the proxy',
      );
    }
  });

  test('a replica whose link is cut reconnects and resumes with +CONTINUE', async () => {
    // The active, since the switch the node that took the snapshot above.
    const active = t.standby;
    assert.equal(t.rbuddy.status().active, active.address);
    const master = t.master.client();
    const before = await masterStats(master);
    const oldSession = t.session(active);
    assert.ok(oldSession !== undefined);
    await active.client().call('CLIENT', 'KILL', 'TYPE', 'master');
    await master.set('after-cut', '1');
    const resumed = await waitFor(
      () => {
        const s = t.session(active);
        return s !== undefined && s.id !== oldSession.id && s.phase === 'streaming' ? s : undefined;
      },
      { what: 'a new streaming session for the active replica' },
    );
    assert.equal(resumed.snapshot, null, 'no snapshot on a partial resync');
    assert.equal(resumed.request.kind, 'psync');
    await waitForInSync(master, active.client());
    const afterStats = await masterStats(master);
    assert.equal(afterStats.syncFull, before.syncFull, 'no full sync');
    assert.equal(afterStats.syncPartialOk, before.syncPartialOk + 1, 'one partial resync');
    assert.equal(await active.client().get('after-cut'), '1');
  });
});
