// Only a replica the node itself confirms ever syncs (docs/design.md, "Identity of a replica").
// A stranger on the port that claims a configured replica's listening port — from the same
// host, or from another address with a self-declared `REPLCONF ip-address` — is refused before
// anything reaches the master: the real active's live session is not replaced, the master forks
// nothing, no failover starts, nothing is flushed, and the standby's claimant gets no data.
// The real replicas still get through: a reconnecting active is verified and resumes (+CONTINUE).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync, type MasterStats } from '../../harness/replication.js';
import { failoverTimings, startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

describe('a stranger claiming to be a configured replica', () => {
  let t: Topology;
  let activeSession: string;
  let before_: MasterStats;
  let activeKeys: number;
  const clients: RawClient[] = [];

  const claim = async (
    port: number,
    options: { from?: string; announceIp?: string; psync?: [string, string] } = {},
  ): Promise<{ reply: unknown; client: RawClient }> => {
    const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port, {
      ...(options.from === undefined ? {} : { localAddress: options.from }),
    });
    clients.push(client);
    assert.equal(await client.command('PING'), 'PONG');
    assert.equal(await client.command('REPLCONF', 'listening-port', String(port)), 'OK');
    if (options.announceIp !== undefined) {
      assert.equal(await client.command('REPLCONF', 'ip-address', options.announceIp), 'OK');
    }
    assert.equal(await client.command('REPLCONF', 'capa', 'eof', 'capa', 'psync2'), 'OK');
    const [replid, offset] = options.psync ?? ['?', '-1'];
    const reply = await client.command('PSYNC', replid, offset);
    return { reply, client };
  };

  before(async () => {
    t = await startTopology({ rbuddyArgs: failoverTimings(), populate: { megabytes: 2 } });
    await t.waitForHealthy();
    activeSession = (await t.waitForPhase(t.active, 'streaming')).id;
    before_ = await masterStats(t.master.client());
    activeKeys = await t.active.client().dbsize();
  });

  after(async () => {
    for (const client of clients) client.close();
    await stopAllRbuddy();
    await stopAllRedis();
  });

  const assertNothingHappened = async (): Promise<void> => {
    const stats = await masterStats(t.master.client());
    assert.equal(stats.syncFull, before_.syncFull, 'the master forked no full sync');
    assert.equal(t.session(t.active)?.id, activeSession, 'the active session was not replaced');
    assert.equal(t.rbuddy.status().state, 'healthy');
    assert.equal(t.rbuddy.status().failover?.kind ?? null, null);
    assert.ok(
      !t.rbuddy.app.events.history().some((e) => e.type === 'active.promoted'),
      'no failover started',
    );
    assert.equal(await t.active.client().dbsize(), activeKeys, 'the active lost nothing');
  };

  test('PSYNC ? -1 on the active’s listening port: refused, the live session kept', async () => {
    const { reply, client } = await claim(t.active.port);
    assert.ok(reply instanceof Error, `got ${String(reply)}`);
    assert.match(reply.message, /not a configured replica/);
    await client.waitClosed();
    await assertNothingHappened();
  });

  test('the same from another loopback address with a forged REPLCONF ip-address', async () => {
    const { reply, client } = await claim(t.active.port, {
      from: '127.0.0.2',
      announceIp: '127.0.0.1',
    });
    assert.ok(reply instanceof Error);
    await client.waitClosed();
    await assertNothingHappened();
  });

  test('a forged replid/offset on the active’s port proves nothing', async () => {
    const info = await t.active.client().info('replication');
    const replid = /master_replid:(\w+)/.exec(info)?.[1] ?? '';
    const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? 0);
    // Even the right replid: the node's link is up, so it is not handshaking on this connection.
    const { reply } = await claim(t.active.port, { psync: [replid, String(offset + 1)] });
    assert.ok(reply instanceof Error);
    await assertNothingHappened();
  });

  test('claiming the idle standby’s port gets no data and no fork', async () => {
    const { reply, client } = await claim(t.standby.port);
    assert.ok(reply instanceof Error);
    await client.waitClosed();
    assert.ok(!t.rbuddy.status().sessions.some((s) => s.replica === t.standby.address));
    await assertNothingHappened();
  });

  test('the real active, reconnecting, is verified by the node and resumes with +CONTINUE', async () => {
    assert.equal(await t.active.client().client('KILL', 'TYPE', 'master'), 1);
    const session = await waitFor(
      () => {
        const s = t.session(t.active);
        return s !== undefined && s.id !== activeSession && s.phase === 'streaming' ? s : undefined;
      },
      { what: 'the active to resume through the proxy' },
    );
    assert.equal(session.request.kind, 'psync');
    await t.master.client().set('after-reconnect', '1');
    await waitForInSync(t.master.client(), t.active.client());
    const stats = await masterStats(t.master.client());
    assert.equal(stats.syncFull, before_.syncFull, 'the reconnect cost no full sync');
    assert.ok(
      t.rbuddy.logs().some((line) => line.msg === 'replica verified by the node itself'),
      'the session was verified, not assumed',
    );
  });
});

test('a stranger cannot take over a standby whose own PSYNC is waiting on the master', async () => {
  const t = await startTopology({
    rbuddyArgs: [...failoverTimings(), '--repl-timeout-ms', '20000'],
  });
  await t.waitForHealthy();
  // A paused master accepts connections (the kernel does) and answers nothing: the standby's
  // session, once attached, waits on the master's reply for as long as the test needs.
  t.master.pause();
  try {
    const waiting = await waitFor(
      () => {
        const s = t.session(t.standby);
        return s?.phase === 'handshake' ? s : undefined;
      },
      { what: 'the standby attached, its PSYNC waiting on the master', timeoutMs: 60_000 },
    );
    const info = await t.standby.client().call('ROLE');
    assert.ok(Array.isArray(info) && info[3] === 'handshake', `standby ROLE ${String(info)}`);
    const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port);
    try {
      assert.equal(
        await client.command('REPLCONF', 'listening-port', String(t.standby.port)),
        'OK',
      );
      const reply = await client.command('PSYNC', '?', '-1');
      assert.ok(reply instanceof Error, `the stranger was answered ${String(reply)}`);
      assert.match(reply.message, /not a configured replica/);
    } finally {
      client.close();
    }
    assert.equal(t.session(t.standby)?.id, waiting.id, 'the standby session was not replaced');
  } finally {
    t.master.resume();
  }
});

/**
 * A stranger from 127.0.0.2 keeps claiming the active's port (with the replid and offset that
 * /v1/status shows, and the listen password when there is one) while the active's link is cut,
 * again and again; it must never be answered by the master.
 */
async function raceTheActiveReconnects(listenPassword: string | undefined): Promise<void> {
  const t = await startTopology({
    rbuddyArgs: [
      ...failoverTimings(),
      ...(listenPassword === undefined ? [] : ['--listen-password', listenPassword]),
    ],
    ...(listenPassword === undefined ? {} : { replicaArgs: { masterauth: listenPassword } }),
  });
  await t.waitForHealthy();
  const stolen: string[] = [];
  let racing = true;
  const race = async (): Promise<void> => {
    while (racing) {
      const session = t.session(t.active);
      const replid = session?.replid ?? '?';
      const offset = session?.lastAck?.offset ?? -2;
      const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port, {
        localAddress: '127.0.0.2',
      });
      try {
        if (listenPassword !== undefined) await client.command('AUTH', listenPassword);
        await client.command('REPLCONF', 'listening-port', String(t.active.port));
        const reply = await client.command('PSYNC', replid, String(offset + 1));
        if (!(reply instanceof Error)) stolen.push(String(reply));
      } finally {
        client.close();
      }
    }
  };
  const racers = [race(), race(), race()];
  try {
    for (let blip = 0; blip < 5; blip++) {
      const before = t.session(t.active)?.id;
      await t.active.client().client('KILL', 'TYPE', 'master');
      await waitFor(
        () => {
          const s = t.session(t.active);
          return s !== undefined && s.id !== before && s.phase === 'streaming';
        },
        { what: `the active back after blip ${blip + 1}` },
      );
    }
  } finally {
    racing = false;
    await Promise.all(racers);
  }
  assert.deepEqual(stolen, [], 'the stranger was never answered by the master');
  assert.ok(
    !t.rbuddy.status().sessions.some((s) => s.peer.startsWith('127.0.0.2:')),
    'no session for the stranger',
  );
  assert.ok(
    !t.rbuddy.app.events.history().some((e) => e.type === 'active.promoted'),
    'no failover started',
  );
}

test('a stranger racing the active’s reconnects with the replid and offset /v1/status shows never wins', async () => {
  // Found by review: the node's own replid and next offset counted as proof.
  await raceTheActiveReconnects(undefined);
});

test('a stranger with the listen password racing the active’s reconnects never wins', async () => {
  // Found by the second review: with a password only authenticated connections counted as the
  // node's possible handshake, and the real replica is not authenticated yet when the node
  // already says `handshake`: the stranger was confirmed, and the real active flushed.
  await raceTheActiveReconnects('listen-secret');
});
