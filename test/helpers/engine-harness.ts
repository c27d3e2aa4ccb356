// The real FailoverEngine (observe → decide → act) driven with fakes, for test/unit/failover-
// engine-*.test.ts: node operations on small node models (fake-node-ops.ts), a proxy whose sessions
// the test drives and a probe whose verdict the test sets (fake-proxy.ts), the real StateFile (temp
// dir) and EventBus; engines are stopped after each test and the temp dirs removed after the file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach } from 'node:test';
import { pino, type Logger } from 'pino';
import type { RetryPolicy } from '../../src/retry-policy.js';
import {
  EventBus,
  type DurableSink,
  type EventSink,
  type RbuddyEvent,
} from '../../src/notify/events.js';
import type { FullSyncStart } from '../../src/proxy/session-types.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';
import type { DecideConfig } from '../../src/standby/decide.js';
import { FailoverEngine, type EngineOptions } from '../../src/standby/engine.js';
import type { FailoverStep, PersistedState } from '../../src/standby/persisted-state.js';
import { StateFile } from '../../src/standby/state-file.js';
import { FakeNodeOps, heldStandbyModel, ORIGINAL_CONFIG, replicaModel } from './fake-node-ops.js';
import { FakeProbe, FakeProxy } from './fake-proxy.js';
import { waitFor } from '../../harness/wait-for.js';

export const A: ReplicaNode = { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 };
export const B: ReplicaNode = { id: '10.0.0.6:6379', host: '10.0.0.6', port: 6379 };
export const MASTER = '10.0.0.2:6379';
export const FULLRESYNC: FullSyncStart = {
  via: 'fullresync',
  replid: 'e'.repeat(40),
  offset: 4242,
};
/** A snapshot the master starts after the replica's inline SYNC (no +FULLRESYNC line). */
export const INLINE_SYNC: FullSyncStart = { via: 'sync' };
export const WAIT = { timeoutMs: 10_000, intervalMs: 2 };

export const BASE_CONFIG: DecideConfig = {
  // Long unless a test shortens it: only what the test does starts a failover.
  graceMs: 60_000,
  drainMs: 20,
  syncTimeoutMs: 60_000,
  guardEmpty: 'hold',
  guardShrink: 0.5,
  initFlushStandby: false,
};

// ---- harness -----------------------------------------------------------------------------------

export const running: FailoverEngine[] = [];
export const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((engine) => engine.stop()));
});
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function stateDir(initial?: PersistedState | string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-engine-test-'));
  dirs.push(dir);
  if (typeof initial === 'string') await writeFile(join(dir, 'state.json'), initial);
  else if (initial !== undefined) await new StateFile(dir).save(initial);
  return dir;
}

/** What is on disk right now (synchronously: usable inside an event sink). */
export function onDisk(dir: string): PersistedState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as PersistedState;
}

/** Healthy, the standby's own settings saved (it is held: replica-serve-stale-data no). */
export function healthyState(): PersistedState {
  return {
    version: 1,
    epoch: 3,
    active: A.id,
    standby: B.id,
    activeHoldsData: true,
    standbySavedConfig: { ...ORIGINAL_CONFIG },
    failover: null,
    lastFailover: null,
  };
}

/** A streams through the proxy with 1000 keys; B is the held idle standby (empty replica). */
export function healthyNodes(): FakeNodeOps {
  return new FakeNodeOps({
    [A.id]: replicaModel({ keys: 1000, runId: 'run-a' }),
    [B.id]: heldStandbyModel({ runId: 'run-b' }),
  });
}

export interface Harness {
  engine: FailoverEngine;
  ops: FakeNodeOps;
  proxy: FakeProxy;
  probe: FakeProbe;
  bus: EventBus;
  dir: string;
  events: RbuddyEvent[];
}

export interface HarnessOptions {
  dir: string;
  ops: FakeNodeOps;
  config?: Partial<DecideConfig>;
  retry?: RetryPolicy;
  sink?: EventSink;
  /** Stands in for the webhook outbox. */
  durable?: DurableSink;
  logger?: Logger;
  /** Replaces fields of the engine's options (a counting tickMs getter, say). */
  patch?: (options: EngineOptions) => EngineOptions;
}

export const silent = pino({ level: 'silent' });

export async function startEngine(options: HarnessOptions): Promise<Harness> {
  const proxy = new FakeProxy();
  const probe = new FakeProbe();
  const logger = options.logger ?? silent;
  const bus = new EventBus('rbuddy', logger);
  const events: RbuddyEvent[] = [];
  bus.addSink({ deliver: (event) => events.push(event) });
  if (options.sink !== undefined) bus.addSink(options.sink);
  if (options.durable !== undefined) bus.addDurableSink(options.durable);
  const engineOptions: EngineOptions = {
    nodes: [A, B],
    initialActive: A,
    initialStandby: B,
    masterId: MASTER,
    config: { ...BASE_CONFIG, ...options.config },
    store: new StateFile(options.dir),
    ops: options.ops,
    probe,
    sessions: proxy,
    bus,
    logger,
    tickMs: 5,
    retry: options.retry ?? (() => 5),
  };
  const engine = new FailoverEngine(options.patch?.(engineOptions) ?? engineOptions);
  running.push(engine);
  await engine.start();
  return { engine, ops: options.ops, proxy, probe, bus, dir: options.dir, events };
}

/** An engine that was neither loaded nor started, over healthy nodes. */
export function unstartedEngine(
  dir: string,
  proxy = new FakeProxy(),
  ops = healthyNodes(),
): FailoverEngine {
  return new FailoverEngine({
    nodes: [A, B],
    initialActive: A,
    initialStandby: B,
    masterId: MASTER,
    config: BASE_CONFIG,
    store: new StateFile(dir),
    ops,
    probe: new FakeProbe(),
    sessions: proxy,
    bus: new EventBus('rbuddy', silent),
    logger: silent,
  });
}

export async function stopEngine(h: Harness): Promise<void> {
  await h.engine.stop();
  running.splice(running.indexOf(h.engine), 1);
}

/** The active's session streams (+CONTINUE through this proxy) and the engine sees it. */
export async function healthyEngine(options: HarnessOptions): Promise<Harness> {
  const h = await startEngine(options);
  h.proxy.stream(A);
  await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
  return h;
}

/** The master stops answering the probe (the probe's onChange reaches the engine). */
export function loseMaster(h: Harness): void {
  h.probe.up = false;
  h.probe.lastError = 'connect ECONNREFUSED 10.0.0.2:6379';
  h.engine.onMasterProbe(false, h.probe.lastError);
}

export function masterBack(h: Harness): void {
  h.probe.up = true;
  h.probe.lastError = undefined;
  h.engine.onMasterProbe(true, undefined);
}

/** A replica's session asks the master through the gate; closes it when the gate says so. */
export function psync(h: Harness, node: ReplicaNode, reply: FullSyncStart): 'relay' | 'close' {
  const session = h.proxy.connect(node);
  const verdict = h.engine.gate(session, reply);
  if (verdict === 'close') session.close('gated');
  return verdict;
}

/** The incoming node finished its full sync: INFO says linked, the proxy saw it stream + ACK. */
export function finishSync(h: Harness, node: ReplicaNode, keys: number): void {
  const model = h.ops.model(node.id);
  assert.equal(model.role, 'slave', `${node.id} was attached before its sync finishes`);
  Object.assign(model, { linkUp: true, syncInProgress: false, loading: false, keys });
  h.proxy.stream(node);
}

export function diskStep(dir: string): FailoverStep | 'none' {
  return onDisk(dir).failover?.step ?? 'none';
}

export async function waitForStep(dir: string, step: FailoverStep): Promise<void> {
  await waitFor(() => diskStep(dir) === step, { what: `persisted step ${step}`, ...WAIT });
}

export async function waitForCompleted(dir: string): Promise<PersistedState> {
  return waitFor(
    () => {
      const state = onDisk(dir);
      return state.failover === null && state.lastFailover?.result === 'completed'
        ? state
        : undefined;
    },
    { what: 'the failover completed on disk', ...WAIT },
  );
}

/** Counts the engine loop's rounds: it reads tickMs once per round, even when it skips ticks. */
export function countingLoops(): {
  patch: (options: EngineOptions) => EngineOptions;
  rounds: () => number;
} {
  let rounds = 0;
  return {
    patch: (options) => ({
      ...options,
      get tickMs() {
        rounds += 1;
        return 2;
      },
    }),
    rounds: () => rounds,
  };
}

/** The incoming node B was told REPLICAOF <proxy> and the record says syncing. */
export async function waitForAttached(h: Harness): Promise<void> {
  await waitFor(
    () => {
      // A held standby already replicates from the proxy: attached is the step's entry.
      const model = h.ops.model(B.id);
      const attached = onDisk(h.dir).failover?.timeline.some(
        (entry) => entry.step === 'standby-attached',
      );
      return (
        model.role === 'slave' &&
        model.followsProxy &&
        diskStep(h.dir) === 'syncing' &&
        attached === true
      );
    },
    { what: 'the standby attached', ...WAIT },
  );
}

/**
 * Waits until the engine ran at least `ticks` whole ticks: each tick views both nodes first, so
 * 2·(ticks + 1) more views cover a tick already under way.
 */
export async function waitTicks(h: Harness, ticks: number): Promise<void> {
  const target = h.ops.callsOf('view').length + 2 * (ticks + 1);
  await waitFor(() => h.ops.callsOf('view').length >= target, { what: `${ticks} ticks`, ...WAIT });
}

/**
 * Records, at every FLUSHALL, what the state file says at that moment (I2: only the outgoing
 * node of a switched failover, the other one verified synced).
 */
export function watchFlushes(ops: FakeNodeOps, dir: string): string[] {
  const violations: string[] = [];
  ops.before('flush', (node) => {
    const disk = onDisk(dir);
    const record = disk.failover;
    if (
      record === null ||
      record.step !== 'switched' ||
      record.outgoing !== node.id ||
      disk.standby !== node.id ||
      disk.active === node.id ||
      record.verifiedAt === null
    ) {
      violations.push(`flush of ${node.id} with ${JSON.stringify(disk)}`);
    }
  });
  return violations;
}

/** Held: the standby B synced empty from the returning master (run_id run-b). */
export async function heldEngine(): Promise<{ h: Harness; flushViolations: string[] }> {
  const dir = await stateDir(healthyState());
  const ops = healthyNodes();
  const flushViolations = watchFlushes(ops, dir);
  const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
  loseMaster(h);
  await waitForAttached(h);
  masterBack(h);
  finishSync(h, B, 0);
  await waitFor(() => h.engine.state === 'held', { what: 'held', ...WAIT });
  assert.equal(onDisk(dir).failover?.syncedRunId, 'run-b');
  const held = h.events.find((event) => event.type === 'failover.held');
  assert.equal(held?.data.activeKeys, 1000);
  assert.equal(held?.data.standbyKeys, 0);
  assert.equal(held?.data.reason, 'the synced standby is empty but the active holds 1000 keys');
  return { h, flushViolations };
}
