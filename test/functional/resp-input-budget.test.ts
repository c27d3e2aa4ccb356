// The RESP port's input budget against the real rbuddy and real Redis: a client that knows the
// password opens many connections, each holding a megabyte of an incomplete command (within the
// per-connection limit). What rbuddy holds for all of them together stays under the budget, the
// connections holding the most get -ERR naming it and are closed, a small incomplete command that
// came first is never the one closed, a new client is served meanwhile, and the real replica's
// stream keeps flowing through rbuddy byte for byte.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.js';
import { CLIENTS_INPUT_BUDGET, CLIENTS_OUTPUT_BUDGET } from '../../src/proxy/input-budget.js';
import { CLIENT_MAX_QUERY_BYTES } from '../../src/resp/limits.js';
import { isWarning } from '../../harness/rbuddy-process.js';
import { RawClient } from '../helpers/raw-client.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startWriter } from '../../harness/replication.js';
import { assertStreamedThroughout, startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const PASSWORD = 'listen-secret';
/** 8 more holders of a megabyte than the budget has room for. */
const ATTACKERS = Math.floor(CLIENTS_INPUT_BUDGET / CLIENT_MAX_QUERY_BYTES) + 8;
/** An incomplete command of about a megabyte, within the per-connection limit: never finished. */
const HEADER = '*2\r\n$1000000\r\n';
const HELD = HEADER.length + 999_000;
/** A small incomplete command, completed at the end. */
const SMALL = '*2\r\n$4\r\nPING\r\n$12\r\nhello';

describe('the input budget of the RESP port, a replica streaming throughout', () => {
  let t: Topology;
  let sessionId: string;
  const clients: RawClient[] = [];
  const authenticated = async (localAddress: string): Promise<RawClient> => {
    const client = await RawClient.connect(t.rbuddy.resp.host, t.rbuddy.resp.port, {
      localAddress,
    });
    clients.push(client);
    assert.equal(await client.command('AUTH', PASSWORD), 'OK');
    return client;
  };

  before(async () => {
    t = await startTopology({
      replicaArgs: { masterauth: PASSWORD },
      rbuddyArgs: ['--listen-password', PASSWORD],
      populate: { megabytes: 5 },
    });
    await t.follow(t.active);
    sessionId = (await t.waitForPhase(t.active, 'streaming')).id;
  });

  after(async () => {
    clients.forEach((client) => client.close());
    await stopAllRbuddy().then(stopAllRedis);
  });

  test('many megabyte-holding connections: the biggest are closed, the total stays under the budget', async () => {
    const writer = startWriter(t.master.client(), { keyPrefix: 'budget' });
    // A small incomplete command first: whoever crosses the line later, it is never the biggest.
    const small = await authenticated('127.0.0.1');
    small.send(SMALL);
    // The attackers from an address of their own (the replicas' reserve is not in the way).
    const attackers: RawClient[] = [];
    for (let i = 0; i < ATTACKERS; i++) attackers.push(await authenticated('127.0.0.2'));
    for (const attacker of attackers) {
      attacker.send(HEADER);
      attacker.send(Buffer.alloc(999_000, 0x61));
    }
    const input = (): { heldBytes: number; peakBytes: number; limitBytes: number } =>
      t.rbuddy.status().clients.input;
    // Every attacker's megabyte arrived: held, or its connection closed for the budget.
    const settled = (): boolean => {
      const open = attackers.filter((attacker) => !attacker.closed).length;
      return input().heldBytes === open * HELD + SMALL.length;
    };
    await waitFor(settled, {
      what: "every attacker's bytes held or its connection closed",
      timeoutMs: 60_000,
      explain: () => JSON.stringify(t.rbuddy.status().clients),
    });
    const { heldBytes, peakBytes, limitBytes } = input();
    assert.equal(limitBytes, CLIENTS_INPUT_BUDGET);
    assert.ok(peakBytes <= CLIENTS_INPUT_BUDGET, `peak ${peakBytes} over the budget`);
    assert.ok(heldBytes <= CLIENTS_INPUT_BUDGET);

    // The closed ones got the error naming the limit, and each was counted.
    const closed = attackers.filter((attacker) => attacker.closed);
    // As many as the budget has no room for, no more.
    const room = Math.floor((CLIENTS_INPUT_BUDGET - SMALL.length) / HELD);
    assert.equal(closed.length, ATTACKERS - room);
    for (const attacker of closed) {
      const reply = await attacker.nextReply();
      assert.ok(reply instanceof Error);
      assert.match(reply.message, new RegExp(`input budget of ${CLIENTS_INPUT_BUDGET} bytes`));
    }
    assert.equal(t.rbuddy.status().clients.closed['input-budget'], closed.length);
    // …and in /metrics, where an alert would watch for it.
    const scraped = await fetch(`${t.rbuddy.httpUrl}/metrics`, {
      signal: AbortSignal.timeout(10_000),
    });
    const exposition = parsePrometheusText(await scraped.text());
    assert.equal(
      sampleValue(exposition, 'rbuddy_client_connections_closed_total', { reason: 'input-budget' }),
      closed.length,
    );
    // Logged through the shared throttle: not one warning per connection closed.
    const warnings = (): unknown[] =>
      t.rbuddy
        .logs()
        .filter((line) => isWarning(line) && String(line.msg).includes('input budget'));
    await waitFor(() => warnings().length > 0, { what: 'the warning logged' });
    assert.ok(warnings().length < closed.length, `${warnings().length} lines`);

    // The small holder is still there: its command completes and is answered.
    assert.equal(small.closed, false);
    small.send('-budget\r\n');
    assert.equal(String(await small.nextReply()), 'hello-budget');
    // A new client is served while the attackers still hold what the budget allows.
    const fresh = await authenticated('127.0.0.1');
    assert.equal(await fresh.command('PING'), 'PONG');

    // The replica's stream flowed through all of it: same session, data equal.
    await assertStreamedThroughout(t, writer, sessionId);

    // Closed, the attackers give back all they held.
    for (const attacker of attackers) attacker.close();
    await waitFor(() => input().heldBytes === 0, { what: 'every byte given back' });
  });

  test('clients that pipeline and never read: the ones holding the most unread replies are closed past the output budget', async () => {
    // Reviewer R11d, D2: 20 clients pipelining COMMAND without reading took rbuddy from 85 to
    // 406 MB; each was bounded alone (16 MB), all of them together were not.
    const writer = startWriter(t.master.client(), { keyPrefix: 'out-budget' });
    const probe = await authenticated('127.0.0.1');
    const replyBytes = JSON.stringify(await probe.command('COMMAND')).length;
    // About 12 MB of replies each (under the 16 MB per connection), 8 of them: over the budget.
    const reps = Math.floor((12 * 1024 * 1024) / replyBytes);
    const readers: Socket[] = [];
    for (let i = 0; i < 8; i++) {
      const socket = connect({ host: t.rbuddy.resp.host, port: t.rbuddy.resp.port });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`AUTH ${PASSWORD}\r\n`);
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.pause();
      socket.write('COMMAND\r\n'.repeat(reps));
      readers.push(socket);
    }
    const clients = (): {
      output: { peakBytes: number; limitBytes: number };
      closed: Record<string, number>;
    } => t.rbuddy.status().clients;
    await waitFor(() => (clients().closed['output-budget'] ?? 0) > 0, {
      what: 'connections closed past the output budget',
      timeoutMs: 60_000,
      explain: () => JSON.stringify(t.rbuddy.status().clients),
    });
    assert.equal(clients().output.limitBytes, CLIENTS_OUTPUT_BUDGET);
    assert.ok(
      clients().output.peakBytes <= CLIENTS_OUTPUT_BUDGET,
      `peak ${clients().output.peakBytes} over the budget`,
    );
    // A new client is served meanwhile, and the replica's stream flowed through it all.
    const fresh = await authenticated('127.0.0.1');
    assert.equal(await fresh.command('PING'), 'PONG');
    await assertStreamedThroughout(t, writer, sessionId);
    for (const socket of readers) socket.destroy();
  });
});
