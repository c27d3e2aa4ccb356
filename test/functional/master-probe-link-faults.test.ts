// The master health probe across link faults that leave its connection open but silent
// (harness/fault-forwarder.ts in front of a real master): a blackhole both ways, and a stall of
// one direction, each long enough for the probe to call the master lost. Once the link passes
// bytes again the probe must see the master up, whatever state its old connection was left in: a
// probe stuck on that connection keeps reporting the master lost, and the engine fails over again
// after every failover it completes. The hardest case: a connection opened inside the blackhole
// (its handshake unanswered) and cut when the blackhole lifts; ioredis left such a client "ready"
// on a closed socket, never reconnecting (see src/standby/master-probe.ts).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pino from 'pino';
import {
  startFaultForwarder,
  type FaultForwarder,
  type LinkMode,
} from '../../harness/fault-forwarder.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { MasterProbe } from '../../src/standby/master-probe.js';

const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await stopAllRedis();
});

interface Watched {
  probe: MasterProbe;
  changes: boolean[];
}

async function probeThroughForwarder(timeoutMs = 300): Promise<{
  watched: Watched;
  fwd: FaultForwarder;
  setMode: (mode: LinkMode) => void;
}> {
  const master = await startRedis({ name: 'probe-master' });
  const fwd = await startFaultForwarder({ target: { host: master.host, port: master.port } });
  closers.push(() => fwd.close());
  const changes: boolean[] = [];
  const probe = new MasterProbe({
    master: { host: '127.0.0.1', port: fwd.port },
    auth: undefined,
    intervalMs: 100,
    timeoutMs,
    failures: 2,
    connectTimeoutMs: 2_000,
    logger: pino({ level: 'silent' }),
    onChange: (up) => changes.push(up),
  });
  closers.push(() => probe.stop());
  probe.start();
  await waitFor(() => fwd.connections === 1 && probe.up && probe.consecutiveFailures === 0, {
    what: 'the probe connected through the forwarder',
    timeoutMs: 10_000,
  });
  return { watched: { probe, changes }, fwd, setMode: (mode) => fwd.setMode(mode) };
}

/** Holds `mode` until the probe has called the master lost, then lifts it: the probe recovers. */
async function faultThenPass(
  { probe, changes }: Watched,
  setMode: (mode: LinkMode) => void,
  mode: LinkMode,
): Promise<void> {
  const before = changes.length;
  setMode(mode);
  await waitFor(() => changes.length > before && !probe.up, {
    what: `the probe calls the master lost during ${JSON.stringify(mode)}`,
    timeoutMs: 20_000,
  });
  // Well past the connect timeout too: a reconnect that the fault swallowed is as stuck as the
  // first connection.
  const failuresAtLoss = probe.consecutiveFailures;
  await waitFor(() => probe.consecutiveFailures >= failuresAtLoss + 3, {
    what: 'more failed probes while the fault holds',
    timeoutMs: 30_000,
  });
  setMode({ kind: 'pass' });
  await waitFor(() => probe.up, {
    what: `the probe sees the master up once ${JSON.stringify(mode)} lifts`,
    timeoutMs: 20_000,
    explain: () => `failures ${probe.consecutiveFailures}, last error ${probe.lastError}`,
  });
  assert.deepEqual(changes.slice(before), [false, true]);
}

test('a blackhole both ways, then pass: the probe sees the master up again', async () => {
  const { watched, setMode } = await probeThroughForwarder();
  await faultThenPass(watched, setMode, { kind: 'blackhole' });
  // And again on the connection it recovered with.
  await faultThenPass(watched, setMode, { kind: 'blackhole' });
});

test('a one-way stall (to the master), then pass: the probe sees the master up again', async () => {
  const { watched, setMode } = await probeThroughForwarder();
  await faultThenPass(watched, setMode, { kind: 'stall', direction: 'up' });
  await faultThenPass(watched, setMode, { kind: 'stall', direction: 'up' });
});

test('a one-way stall (from the master), then pass: the probe sees the master up again', async () => {
  const { watched, setMode } = await probeThroughForwarder();
  await faultThenPass(watched, setMode, { kind: 'stall', direction: 'down' });
  await faultThenPass(watched, setMode, { kind: 'stall', direction: 'down' });
});

test('a connection opened inside a blackhole and cut as it lifts: the probe sees the master up again', async () => {
  // A probe timeout long enough that the new connection's handshake is still unanswered when the
  // blackhole lifts and the forwarder resets the connection that lost bytes.
  const { watched, fwd } = await probeThroughForwarder(2_000);
  const { probe, changes } = watched;
  fwd.setMode({ kind: 'blackhole' });
  await waitFor(() => !probe.up, { what: 'the probe calls the master lost', timeoutMs: 30_000 });
  fwd.resetAll();
  await waitFor(() => fwd.connections > 0, {
    what: 'the probe connecting again inside the blackhole',
    timeoutMs: 20_000,
  });
  fwd.setMode({ kind: 'pass' });
  await waitFor(() => probe.up, {
    what: 'the probe sees the master up once the blackhole lifts',
    timeoutMs: 20_000,
    explain: () => `failures ${probe.consecutiveFailures}, last error ${probe.lastError}`,
  });
  assert.deepEqual(changes, [false, true]);
});
