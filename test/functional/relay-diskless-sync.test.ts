// A diskless (`$EOF:<mark>`) full sync through the proxy: keepalives during the master's
// repl-diskless-sync-delay pass through, the mark is found, the master waits for the
// replica's first ACK (which must not be held back) and the stream follows.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { info, startWriter, waitForInSync } from '../../harness/replication.js';
import { startTopology, type Topology } from '../helpers/topology.js';

const MB = 1024 * 1024;

describe('relay with a diskless snapshot', () => {
  let t: Topology;

  before(async () => {
    t = await startTopology({
      masterArgs: {
        'repl-diskless-sync': 'yes',
        // The master waits this long before starting the transfer and sends "\n" keepalives
        // meanwhile (replicationCron): they must reach the replica.
        'repl-diskless-sync-delay': 2,
        rdbcompression: 'no',
      },
      populate: { megabytes: 100, dbs: [0, 3, 7] },
    });
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('a replica full-syncs through the proxy with an $EOF snapshot', async () => {
    const writer = startWriter(t.master.client(), { keyPrefix: 'diskless' });
    await t.follow(t.active);
    const session = await t.waitForPhase(t.active, 'streaming');
    await writer.stop();
    assert.equal(writer.errors, 0);
    await waitForInSync(t.master.client(), t.active.client());

    assert.equal(session.snapshot?.format, 'eof');
    assert.ok(
      (session.snapshot?.size ?? 0) >= 100 * MB,
      `snapshot of ${session.snapshot?.size} bytes`,
    );
    // The mark's 40 bytes are counted as transferred but not as RDB size.
    assert.equal(session.snapshot?.transferred, (session.snapshot?.size ?? 0) + 40);
    assert.ok(session.keepalives > 0, 'keepalive newlines were relayed');
    const masterOffset = Number((await info(t.master.client(), 'replication')).master_repl_offset);
    assert.equal(t.session(t.active)?.offset, masterOffset);
  });

  test('WAIT 1 1000 on the master returns 1: ACKs reach the master', async () => {
    const master = t.master.client();
    await master.set('wait-key', 'v');
    assert.equal(await master.call('WAIT', '1', '1000'), 1);
    const session = t.session(t.active);
    assert.ok(session?.lastAck !== null && session?.lastAck !== undefined);
    assert.ok(session.lagBytes !== null && session.lagBytes >= 0);
  });
});
