// Never a wrong answer to a client that did not move (docs/design.md, "The write guard"): a
// plain client that stays on one node's address, reconnecting after CLIENT KILL and never asking
// where the active is, reads through a master-loss failover and then a planned switch. It gets
// the value or an error (-MASTERDOWN, -READONLY, a connection error), never a nil for a key that
// exists. The idle standby answers -MASTERDOWN to a read and -READONLY to a write.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info } from '../../harness/replication.js';
import { failoverTimings, startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'never-moves-t0ken';
const KEY = 'reader-key';
const VALUE = 'reader-value';

const clients: Redis[] = [];
after(async () => {
  for (const client of clients) client.disconnect();
  await stopAllRbuddy();
  await stopAllRedis();
});

/** A client on one node's address that reads KEY in a loop, whatever the node answers. */
interface StubbornReader {
  readonly ok: number;
  /** Answers that were neither the value nor an error: the defect this test is about. */
  readonly wrong: string[];
  /** Error replies by their first word (MASTERDOWN, READONLY, …), counted. */
  readonly errors: Map<string, number>;
  /** Reads answered with the value since the last error. */
  readonly okSinceError: number;
  stop(): Promise<void>;
}

function stubbornReader(server: RedisServer): StubbornReader {
  // A fresh connection with ioredis's defaults: it reconnects after CLIENT KILL, and never asks
  // anyone where the active is.
  const client = server.client().duplicate();
  clients.push(client);
  let running = true;
  const state = {
    ok: 0,
    wrong: [] as string[],
    errors: new Map<string, number>(),
    okSinceError: 0,
  };
  const loop = (async () => {
    while (running) {
      try {
        const value = await client.get(KEY);
        if (value === VALUE) {
          state.ok += 1;
          state.okSinceError += 1;
        } else state.wrong.push(JSON.stringify(value));
      } catch (error) {
        const code = (error instanceof Error ? error.message : String(error)).split(' ')[0] ?? '';
        state.errors.set(code, (state.errors.get(code) ?? 0) + 1);
        state.okSinceError = 0;
      }
      // Paces the loop (a read every few ms), so that two readers and rbuddy share the cores.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    get ok() {
      return state.ok;
    },
    get wrong() {
      return state.wrong;
    },
    get errors() {
      return state.errors;
    },
    get okSinceError() {
      return state.okSinceError;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

function summary(reader: StubbornReader): string {
  return `ok ${reader.ok}, wrong ${JSON.stringify(reader.wrong.slice(0, 5))}, errors ${JSON.stringify([...reader.errors])}`;
}

async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split(' ')[0] ?? '';
  }
  return 'no error';
}

test('a client that never moves reads only data or errors through a failover and a planned switch', async () => {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync-delay': 0 },
    rbuddyArgs: ['--http-token', TOKEN, ...failoverTimings()],
    populate: { megabytes: 5 },
  });
  const master = t.master.client();
  await master.set(KEY, VALUE);
  await t.waitForHealthy();

  // The idle standby, held by rbuddy: no read, no write.
  await waitFor(
    async () => {
      const replication = await info(t.standby.client(), 'replication');
      return replication.role === 'slave' && replication.master_link_status === 'down';
    },
    { what: 'the idle standby held as a replica of rbuddy' },
  );
  assert.equal(await errorCode(t.standby.client().get(KEY)), 'MASTERDOWN');
  assert.equal(await errorCode(t.standby.client().set('on-the-standby', 'x')), 'READONLY');

  const onA = stubbornReader(t.active);
  const onB = stubbornReader(t.standby);
  await waitFor(() => onA.ok >= 20, { what: 'the reader on the active to read' });

  // (a) Master loss: A is promoted, B syncs, the roles switch, A is retired.
  const epoch = t.rbuddy.status().epoch ?? -1;
  await master.save();
  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: 'the failover to reach its sync',
  });
  await t.master.restart();
  await waitFor(
    () => t.rbuddy.status().epoch === epoch + 1 && t.rbuddy.status().failover === null,
    { what: 'the failover to complete (A retired)', timeoutMs: 120_000 },
  );
  // A's stubborn client keeps reading the retired node: errors, never nils.
  const masterdownBefore = onA.errors.get('MASTERDOWN') ?? 0;
  await waitFor(() => (onA.errors.get('MASTERDOWN') ?? 0) >= masterdownBefore + 20, {
    what: `-MASTERDOWN from the retired node (A: ${summary(onA)})`,
  });
  assert.equal(onA.okSinceError, 0, 'no read of the retired node answers data');
  await waitFor(() => onB.okSinceError >= 20, { what: `B serving (B: ${summary(onB)})` });
  assert.deepEqual(onA.wrong, [], `A: ${summary(onA)}`);
  assert.deepEqual(onB.wrong, [], `B: ${summary(onB)}`);

  // (b) A planned switch back: B (the active) drains and is retired, A syncs and serves again.
  const response = await fetch(`${t.rbuddy.httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202);
  await waitFor(
    () => t.rbuddy.status().epoch === epoch + 2 && t.rbuddy.status().failover === null,
    { what: 'the planned switch to complete (B retired)', timeoutMs: 120_000 },
  );
  const bMasterdown = onB.errors.get('MASTERDOWN') ?? 0;
  await waitFor(() => (onB.errors.get('MASTERDOWN') ?? 0) >= bMasterdown + 20, {
    what: `-MASTERDOWN from the retired node (B: ${summary(onB)})`,
  });
  await waitFor(() => onA.okSinceError >= 20, { what: `A serving again (A: ${summary(onA)})` });
  await Promise.all([onA.stop(), onB.stop()]);

  assert.deepEqual(onA.wrong, [], `A: ${summary(onA)}`);
  assert.deepEqual(onB.wrong, [], `B: ${summary(onB)}`);
  // Whatever errors came, they are the held node's, a refused write's or a reconnect's.
  const allowed = /^(MASTERDOWN|READONLY|LOADING|Connection|connect|read|write|Stream|NOREPLICAS)/;
  for (const reader of [onA, onB]) {
    for (const code of reader.errors.keys()) assert.match(code, allowed, summary(reader));
  }
  // The new standby (B) holds nothing anyone can read, and is a replica of rbuddy.
  const replication = await info(t.standby.client(), 'replication');
  assert.equal(replication.role, 'slave');
  assert.equal((await info(t.standby.client(), 'keyspace')).db0, undefined, 'B flushed');
});
