// Protected mode against the real rbuddy: listening on 0.0.0.0 without a password, it says so at
// start, serves loopback (a real replica streams through it), and refuses a peer that connects
// from this machine's non-loopback address with -DENIED; with --protected-mode no it serves it.
//
// What is covered where: a sandbox rarely has a second machine, so the non-loopback peer here is
// this machine itself, connecting from its own non-loopback address (rbuddy sees that address as
// the peer, as it would see another host's). On a machine without one, the refusal cases are only
// covered by test/unit/admission.test.ts (the decision, for every shape of address); this file
// then says so in a diagnostic and checks the rest.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, describe, test, type TestContext } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startTopology } from '../helpers/topology.js';

/** An IPv4 address of this machine that is not loopback, if it has one. */
function nonLoopbackAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    const found = entries?.find((entry) => entry.family === 'IPv4' && !entry.internal);
    if (found !== undefined) return found.address;
  }
  return undefined;
}

function warnings(rbuddy: RbuddyUnderTest, pattern: RegExp): string[] {
  return rbuddy
    .logs()
    .filter(
      (line) => line.level === 'warn' && typeof line.msg === 'string' && pattern.test(line.msg),
    )
    .map((line) => String(line.msg));
}

const external = nonLoopbackAddress();

async function fromOutside(
  rbuddy: RbuddyUnderTest,
  t: TestContext,
): Promise<RawClient | undefined> {
  if (external === undefined) {
    t.diagnostic('no non-loopback address on this machine: refusal covered by the unit test only');
    return undefined;
  }
  return RawClient.connect(external, rbuddy.resp.port, { localAddress: external });
}

describe('protected mode (0.0.0.0, no --listen-password)', () => {
  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
  });

  test('warns once at start, serves loopback and its replica, refuses another address', async (t) => {
    const topology = await startTopology({ rbuddyArgs: ['--listen', '0.0.0.0:0'] });
    const rbuddy = topology.rbuddy;
    assert.equal(warnings(rbuddy, /protected mode/).length, 1, 'one warning line at start');
    assert.match(warnings(rbuddy, /protected mode/)[0] ?? '', /--listen-password/);

    // The replica connects from loopback (rbuddy announces 127.0.0.1 for a wildcard listener).
    await topology.follow(topology.active);
    await topology.waitForPhase(topology.active, 'streaming');
    const local = await RawClient.connect('127.0.0.1', rbuddy.resp.port);
    assert.equal(await local.command('PING'), 'PONG');
    local.close();

    const outsider = await fromOutside(rbuddy, t);
    if (outsider === undefined) return;
    const reply = await outsider.nextReply();
    assert.ok(reply instanceof Error);
    assert.equal(reply.message.split(' ')[0], 'DENIED');
    for (const remedy of ['--listen-password', '--protected-mode no']) {
      assert.ok(reply.message.includes(remedy), `the refusal names ${remedy}`);
    }
    await outsider.waitClosed();
    assert.equal(rbuddy.status().clients.refused['protected-mode'], 1);
    assert.equal(topology.session(topology.active)?.phase, 'streaming', 'the replica streams on');
  });

  test('with --protected-mode no, the other address is served, and that is logged too', async (t) => {
    const topology = await startTopology({
      rbuddyArgs: ['--listen', '0.0.0.0:0', '--protected-mode', 'no'],
    });
    const rbuddy = topology.rbuddy;
    assert.equal(warnings(rbuddy, /protected mode is off/).length, 1);
    const outsider = await fromOutside(rbuddy, t);
    if (outsider === undefined) return;
    assert.equal(await outsider.command('PING'), 'PONG');
    outsider.close();
  });
});
