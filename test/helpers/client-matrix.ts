// The discovery client matrix: one Sentinel client library, with rbuddy as its only sentinel,
// reads one key continuously through (a) a master-loss failover (kill -9, promote, resync,
// switch) and (b) a planned switch (POST /v1/failover). Every read is classified: ok (the value
// written), failed (an error), or wrong (a nil or any other value: the key was written once, so
// no other value may appear). After each switch the client must end on the new active.
import assert from 'node:assert/strict';
import { waitFor } from '../../harness/wait-for.js';
import { failoverTimings, startTopology, type Topology } from './topology.js';

export const KEY = 'matrix-key';
export const VALUE = 'matrix-value';
const TOKEN = 'matrix-token';

export interface ReadCounts {
  ok: number;
  failed: string[];
  wrong: string[];
}

/** A client under test, reading KEY in a loop from the moment it is opened. */
export interface MatrixClient {
  counts(): ReadCounts;
  /** Zeroes the counts (between the two failovers). */
  reset(): void;
  /** The port of the node the client reads from now (its INFO's tcp_port); rejects if unknown. */
  nodePort(): Promise<number>;
  close(): Promise<void>;
}

export type OpenClient = (
  sentinel: { host: string; port: number },
  group: string,
) => Promise<MatrixClient>;

export interface MatrixOutcome {
  group: string;
  masterLoss: ReadCounts;
  planned: ReadCounts;
}

/** A JS client's read loop: `get` is one read, `port` one INFO through the same client. */
export function jsReadLoop(
  get: () => Promise<unknown>,
  port: () => Promise<number>,
  close: () => Promise<void>,
): MatrixClient {
  let counts: ReadCounts = { ok: 0, failed: [], wrong: [] };
  let reading = true;
  const loop = (async () => {
    while (reading) {
      try {
        const value = await get();
        if (value === VALUE) counts.ok++;
        else counts.wrong.push(`read ${JSON.stringify(value)}`);
      } catch (error) {
        counts.failed.push(error instanceof Error ? error.message : String(error));
        // An error returned at once would spin: give the client's reconnect a turn.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  })();
  return {
    counts: () => counts,
    reset: () => {
      counts = { ok: 0, failed: [], wrong: [] };
    },
    nodePort: port,
    close: async () => {
      reading = false;
      await loop;
      await close();
    },
  };
}

async function postFailover(httpUrl: string): Promise<void> {
  const response = await fetch(`${httpUrl}/v1/failover`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202, await response.text());
}

async function readsOn(
  client: MatrixClient,
  t: Topology,
  port: number,
  what: string,
): Promise<void> {
  await waitFor(async () => (await client.nodePort()) === port, {
    what: `the client to read from the new active (${what})`,
    timeoutMs: 60_000,
  });
  const before = client.counts().ok;
  await waitFor(() => client.counts().ok >= before + 50, {
    what: `reads on the new active (${what})`,
  });
  void t;
}

/** Runs both failovers with one client; the caller asserts on the outcome. */
export async function throughBothFailovers(
  group: string,
  open: OpenClient,
): Promise<MatrixOutcome> {
  const t = await startTopology({
    masterArgs: { 'repl-diskless-sync': 'no' },
    rbuddyArgs: ['--group', group, '--http-token', TOKEN, ...failoverTimings()],
  });
  const master = t.master.client();
  await master.set(KEY, VALUE);
  await t.waitForHealthy();
  const epoch = t.rbuddy.status().epoch ?? -1;
  const client = await open({ host: t.rbuddy.resp.host, port: t.rbuddy.resp.port }, group);
  try {
    await readsOn(client, t, t.active.port, 'before any failover');
    client.reset();

    // (a) The master is lost: the active is promoted, the standby syncs once the master is back.
    await master.save();
    await t.master.kill9();
    await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
      what: 'the active to be promoted and the standby attached',
    });
    const during = client.counts().ok;
    await waitFor(() => client.counts().ok >= during + 50, {
      what: 'reads while the master is away',
    });
    await t.master.restart();
    await waitFor(
      () => t.rbuddy.status().state === 'healthy' && t.rbuddy.status().epoch === epoch + 1,
      {
        what: 'the master-loss switch to complete',
        timeoutMs: 120_000,
      },
    );
    await readsOn(client, t, t.standby.port, 'after the master-loss failover');
    const masterLoss = client.counts();
    client.reset();

    // (b) A planned switch back to the first node.
    await postFailover(t.rbuddy.httpUrl);
    await waitFor(
      () =>
        t.rbuddy.status().state === 'healthy' &&
        t.rbuddy.status().epoch === epoch + 2 &&
        t.rbuddy.status().failover === null,
      { what: 'the planned switch to complete', timeoutMs: 120_000 },
    );
    await readsOn(client, t, t.active.port, 'after the planned switch');
    return { group, masterLoss, planned: client.counts() };
  } finally {
    await client.close();
  }
}

/**
 * Writes the counts of a run to stderr, passed or not: README.md's client table reports them,
 * and a failure's lists alone do not say how many reads went right.
 */
export function reportCounts(outcome: MatrixOutcome): void {
  const summary = (counts: ReadCounts): string =>
    `${counts.ok} ok, ${counts.failed.length} failed, ${counts.wrong.length} wrong`;
  process.stderr.write(
    `matrix ${outcome.group}: master loss ${summary(outcome.masterLoss)}; planned ${summary(outcome.planned)}\n`,
  );
}

/** What a test asserts: no failed and no wrong read in either failover. */
export function assertClean(outcome: MatrixOutcome): void {
  reportCounts(outcome);
  assert.deepEqual(
    {
      masterLoss: { failed: outcome.masterLoss.failed, wrong: outcome.masterLoss.wrong },
      planned: { failed: outcome.planned.failed, wrong: outcome.planned.wrong },
    },
    { masterLoss: { failed: [], wrong: [] }, planned: { failed: [], wrong: [] } },
  );
}
