// Attacks on a password-protected RESP port, against the real rbuddy and real Redis, while a real
// replica streams through it: a flood of junk lines before AUTH, password guessing, connections
// that never authenticate, and more connections than --max-clients. Each attacker is cut off; the
// replica's session and the other clients are served throughout.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MAX_CLIENTS_MESSAGE, REPLICA_RESERVE } from '../../src/proxy/admission.js';
import { AUTH_MAX_FAILURES_PER_CONNECTION } from '../../src/proxy/auth-throttle.js';
import { UNAUTHENTICATED_MAX_COMMANDS } from '../../src/resp/limits.js';
import { RawClient, type RawReply } from '../helpers/raw-client.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const PASSWORD = 'listen-secret';
const MAX_CLIENTS = 3;
// Room for the AUTH throttle's wait (800 ms after four failures) on a loaded machine.
const AUTH_TIMEOUT_MS = 2_000;

/** The error code of a RESP error reply: its first word. */
function errorCode(reply: RawReply): string | undefined {
  return reply instanceof Error ? reply.message.split(' ')[0] : undefined;
}

/** Every reply until the proxy closes the connection. */
async function repliesUntilClosed(client: RawClient): Promise<RawReply[]> {
  await client.waitClosed();
  const replies: RawReply[] = [];
  for (;;) {
    const reply = await client.nextReply(100).catch(() => undefined);
    if (reply === undefined) return replies;
    replies.push(reply);
  }
}

describe('limits on the RESP port, a replica streaming throughout', () => {
  let t: Topology;
  let sessionId: string;
  const clients: RawClient[] = [];
  const open = async (localAddress = '127.0.0.1'): Promise<RawClient> => {
    const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port, {
      localAddress,
    });
    clients.push(client);
    return client;
  };
  const authenticated = async (localAddress?: string): Promise<RawClient> => {
    const client = await open(localAddress);
    assert.equal(await client.command('AUTH', PASSWORD), 'OK');
    return client;
  };
  const closedFor = (reason: string): number =>
    (t.rbuddy.status().clients.closed as Record<string, number>)[reason] ?? 0;

  before(async () => {
    t = await startTopology({
      replicaArgs: { masterauth: PASSWORD },
      rbuddyArgs: [
        '--listen-password',
        PASSWORD,
        '--max-clients',
        String(MAX_CLIENTS),
        '--auth-timeout-ms',
        String(AUTH_TIMEOUT_MS),
        // The pub/sub test sends tens of MB of events: to this port's subscribers only.
        '--publish',
        'none',
      ],
    });
    await t.follow(t.active);
    sessionId = (await t.waitForPhase(t.active, 'streaming')).id;
  });

  after(async () => {
    for (const client of clients) client.close();
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('a flood of junk lines before AUTH is closed after a few -NOAUTH; others are served', async () => {
    const attacker = await open();
    attacker.send('a\n'.repeat(2 * 1024 * 1024)); // 4 MB
    const replies = await repliesUntilClosed(attacker);
    const codes = replies.map(errorCode);
    assert.equal(codes.length, UNAUTHENTICATED_MAX_COMMANDS + 1);
    assert.ok(codes.every((code) => code === 'NOAUTH'));
    assert.equal(closedFor('unauthenticated-commands'), 1);
    const other = await authenticated();
    assert.equal(await other.command('PING'), 'PONG');
    other.close();
  });

  test(`wrong passwords are throttled per IP and close the connection after ${AUTH_MAX_FAILURES_PER_CONNECTION}`, async () => {
    // From an address of its own, so that its failures slow down no other test's AUTH.
    const guesser = await open('127.0.0.3');
    for (let i = 1; i <= AUTH_MAX_FAILURES_PER_CONNECTION; i++) {
      assert.equal(errorCode(await guesser.command('AUTH', `guess-${i}`)), 'WRONGPASS');
    }
    const after = await repliesUntilClosed(guesser);
    assert.deepEqual(after.map(errorCode), ['ERR']);
    assert.equal(closedFor('auth-failures'), 1);
    // Each failure from the IP counted, whatever the connection: the next AUTH from it waits.
    const counted = t.rbuddy
      .logs()
      .filter((line) => line.msg === 'AUTH with a wrong password refused')
      .map((line) => line.fromPeer);
    assert.deepEqual(counted, [1, 2, 3, 4, 5]);
    // The right password still gets in (after its wait).
    const right = await authenticated('127.0.0.3');
    assert.equal(await right.command('PING'), 'PONG');
    right.close();
  });

  test('a connection that does not authenticate in time is closed with an error', async () => {
    const idle = await open();
    const replies = await repliesUntilClosed(idle);
    assert.deepEqual(replies.map(errorCode), ['ERR']);
    // PING is not AUTH: with a password set, only AUTH meets the deadline.
    const pinging = await open();
    assert.equal(errorCode(await pinging.command('PING')), 'NOAUTH');
    assert.deepEqual((await repliesUntilClosed(pinging)).map(errorCode), ['ERR']);
    assert.equal(closedFor('auth-timeout'), 2);
    // One that authenticated stays past the deadline: an idle one opened with it is closed first.
    const kept = await authenticated();
    const witness = await open();
    await witness.waitClosed();
    assert.equal(kept.closed, false);
    assert.equal(await kept.command('PING'), 'PONG');
    kept.close();
  });

  test('a subscriber that never reads is closed past its output limit; one that reads is not', async () => {
    const reading = await authenticated();
    assert.deepEqual(await reading.command('SUBSCRIBE', 'rbuddy:events'), [
      'subscribe',
      'rbuddy:events',
      1,
    ]);
    let emitted = 0;
    const stalled = connect({ host: t.rbuddy.resp.host, port: t.rbuddy.resp.port });
    stalled.on('error', () => undefined);
    let text = '';
    stalled.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // Subscribed: from now on it reads nothing.
      if (text.includes(':1\r\n')) stalled.pause();
    });
    stalled.write(`AUTH ${PASSWORD}\r\nSUBSCRIBE rbuddy:events\r\n`);
    await waitFor(() => text.includes(':1\r\n'), {
      what: 'the stalled subscriber subscribed',
      explain: () => JSON.stringify(text) + JSON.stringify(t.rbuddy.status().clients),
    });
    assert.equal(t.rbuddy.status().clients.connected, 2);
    // Events as the engine emits them, large ones, until rbuddy gives up on the stalled one.
    const reason = 'x'.repeat(256 * 1024);
    const data = { active: t.active.address, standby: t.standby.address, master: t.master.address };
    await waitFor(
      async () => {
        // Past the kernel's buffers, each event queues in rbuddy: its limit (32 MB) ends it.
        for (let i = 0; i < 4; i++) t.rbuddy.app.events.emit('master.up', 0, { ...data, reason });
        emitted += 4;
        // The reading subscriber keeps up: each event is one message to it.
        for (let i = 0; i < 4; i++) assert.ok(Array.isArray(await reading.nextReply()));
        // A paused socket does not see its end: ask rbuddy whether it still holds it.
        return t.rbuddy.status().clients.connected === 1;
      },
      { what: 'the stalled subscriber to be closed', timeoutMs: 120_000 },
    );
    // Reading again, it finds the end of what was queued for it: rbuddy closed it.
    stalled.removeAllListeners('data');
    stalled.resume();
    await new Promise((resolve) => stalled.once('close', resolve));
    assert.equal(reading.closed, false);
    assert.ok(emitted * reason.length > 32 * 1024 * 1024, 'closed past the limit, not before');
    stalled.destroy();
    reading.close();
  });

  test('past --max-clients a stranger gets -ERR max clients; the replica still reconnects', async () => {
    // Strangers from 127.0.0.2, an address that is no configured replica's (theirs is 127.0.0.1).
    // The pub/sub test before this one loads the machine: the active's link may break and
    // reconnect while the strangers fill the limit, and its handshake then holds an ordinary place
    // for a few round trips (it is a configured replica's: that is its right). A stranger refused
    // then says nothing about the limit, so the fill starts again; refused while the same session
    // streams throughout, it is a failure.
    let strangers: RawClient[];
    for (let attempt = 1; ; attempt++) {
      await waitFor(() => t.rbuddy.status().clients.connected === 0, { what: 'no client left' });
      sessionId = (await t.waitForPhase(t.active, 'streaming')).id;
      strangers = [];
      const replies: RawReply[] = [];
      for (let i = 0; i < MAX_CLIENTS; i++) {
        const client = await open('127.0.0.2');
        strangers.push(client);
        replies.push(await client.command('AUTH', PASSWORD));
      }
      if (replies.every((reply) => reply === 'OK')) break;
      const session = t.session(t.active);
      const undisturbed =
        session?.id === sessionId && t.rbuddy.status().clients.connected <= MAX_CLIENTS;
      assert.ok(
        !undisturbed && attempt < 5,
        `a stranger within --max-clients was refused: ${JSON.stringify(replies.map(String))}`,
      );
      for (const client of strangers) client.close();
    }
    const refused = await open('127.0.0.2');
    assert.deepEqual(
      (await repliesUntilClosed(refused)).map((reply) => (reply as Error).message),
      [MAX_CLIENTS_MESSAGE],
    );
    // Strangers on the replicas' own address fill their reserve too. The same caveat as above: a
    // handshake of the active's during the fill holds an ordinary place, and a stranger then
    // takes the one it leaves (a fresh-clone run under load: 7 reserved of 8). Then the fill
    // starts again; short while the same session streamed throughout, it is a failure.
    let sharing: RawClient[];
    for (let attempt = 1; ; attempt++) {
      sharing = [];
      for (let i = 0; i < REPLICA_RESERVE; i++) sharing.push(await authenticated('127.0.0.1'));
      const reserved = t.rbuddy.status().clients.reserved;
      if (reserved === REPLICA_RESERVE) break;
      const session = t.session(t.active);
      const undisturbed = session?.id === sessionId && session.phase === 'streaming';
      assert.ok(!undisturbed && attempt < 5, `${reserved} reserved of ${REPLICA_RESERVE}`);
      for (const client of sharing) client.close();
      await waitFor(() => t.rbuddy.status().clients.reserved === 0, { what: 'the reserve empty' });
      sessionId = (await t.waitForPhase(t.active, 'streaming')).id;
    }

    // The active's link breaks: it reconnects, and the oldest stranger on its address makes way.
    const killed = await t.active.client().client('KILL', 'TYPE', 'master');
    assert.equal(killed, 1);
    const resumed = await waitFor(
      () => {
        const session = t.session(t.active);
        return session !== undefined && session.id !== sessionId && session.phase === 'streaming'
          ? session
          : undefined;
      },
      { what: 'the active to stream again through a new session' },
    );
    assert.equal(resumed.replica, t.active.address);
    await sharing[0]?.waitClosed();
    assert.equal(strangers.filter((client) => client.closed).length, 0, 'other strangers stay');
    // The replica's connection, a session now, holds no place: at least one is free in the
    // reserve. (Silent strangers on the replica's own address are also possible handshakes of
    // it, so its first reconnect may be refused and the next one make way again: how many of
    // them go depends on timing.)
    assert.ok(t.rbuddy.status().clients.reserved <= REPLICA_RESERVE - 1);
  });
});
