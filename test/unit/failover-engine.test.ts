// The real FailoverEngine (observe → decide → act) driven with fakes: node operations on small
// node models (test/helpers/fake-node-ops.ts), a proxy whose sessions the test drives and a probe
// whose verdict the test sets (test/helpers/fake-proxy.ts), and the real StateFile (temp dir)
// and EventBus. Proves I3 (the new roles are on disk before failover.completed), I2 (a restart
// at any step resumes, and only the persisted outgoing node is flushed, once, after the switch),
// the PSYNC gate, operator requests, retries with backoff (I4) and a corrupt state file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
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
import { REDIS_DEFAULTS, WRITE_GUARD } from '../../src/standby/node-ops.js';
import {
  FakeNodeOps,
  idleMasterModel,
  ORIGINAL_CONFIG,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { FakeProbe, FakeProxy } from '../helpers/fake-proxy.js';
import { waitFor } from '../../harness/wait-for.js';

const A: ReplicaNode = { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 };
const B: ReplicaNode = { id: '10.0.0.6:6379', host: '10.0.0.6', port: 6379 };
const MASTER = '10.0.0.2:6379';
const FULLRESYNC: FullSyncStart = { via: 'fullresync', replid: 'e'.repeat(40), offset: 4242 };
/** A snapshot the master starts after the replica's inline SYNC (no +FULLRESYNC line). */
const INLINE_SYNC: FullSyncStart = { via: 'sync' };
const WAIT = { timeoutMs: 10_000, intervalMs: 2 };

const BASE_CONFIG: DecideConfig = {
  // Long unless a test shortens it: only what the test does starts a failover.
  graceMs: 60_000,
  drainMs: 20,
  syncTimeoutMs: 60_000,
  guardEmpty: 'hold',
  guardShrink: 0.5,
  initFlushStandby: false,
};

// ---- harness -----------------------------------------------------------------------------------

const running: FailoverEngine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((engine) => engine.stop()));
});
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function stateDir(initial?: PersistedState | string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-engine-test-'));
  dirs.push(dir);
  if (typeof initial === 'string') await writeFile(join(dir, 'state.json'), initial);
  else if (initial !== undefined) await new StateFile(dir).save(initial);
  return dir;
}

/** What is on disk right now (synchronously: usable inside an event sink). */
function onDisk(dir: string): PersistedState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as PersistedState;
}

/** Healthy, the standby's own settings saved (it is guarded against writes). */
function healthyState(): PersistedState {
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

/** A streams through the proxy with 1000 keys; B is an idle, empty master refusing writes. */
function healthyNodes(): FakeNodeOps {
  return new FakeNodeOps({
    [A.id]: replicaModel({ keys: 1000, runId: 'run-a' }),
    [B.id]: idleMasterModel({ runId: 'run-b', config: { ...WRITE_GUARD } }),
  });
}

interface Harness {
  engine: FailoverEngine;
  ops: FakeNodeOps;
  proxy: FakeProxy;
  probe: FakeProbe;
  bus: EventBus;
  dir: string;
  events: RbuddyEvent[];
}

interface HarnessOptions {
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

const silent = pino({ level: 'silent' });

async function startEngine(options: HarnessOptions): Promise<Harness> {
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
function unstartedEngine(dir: string, proxy = new FakeProxy()): FailoverEngine {
  return new FailoverEngine({
    nodes: [A, B],
    initialActive: A,
    initialStandby: B,
    masterId: MASTER,
    config: BASE_CONFIG,
    store: new StateFile(dir),
    ops: healthyNodes(),
    probe: new FakeProbe(),
    sessions: proxy,
    bus: new EventBus('rbuddy', silent),
    logger: silent,
  });
}

async function stopEngine(h: Harness): Promise<void> {
  await h.engine.stop();
  running.splice(running.indexOf(h.engine), 1);
}

/** The active's session streams (+CONTINUE through this proxy) and the engine sees it. */
async function healthyEngine(options: HarnessOptions): Promise<Harness> {
  const h = await startEngine(options);
  h.proxy.stream(A);
  await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
  return h;
}

/** The master stops answering the probe (the probe's onChange reaches the engine). */
function loseMaster(h: Harness): void {
  h.probe.up = false;
  h.probe.lastError = 'connect ECONNREFUSED 10.0.0.2:6379';
  h.engine.onMasterProbe(false, h.probe.lastError);
}

function masterBack(h: Harness): void {
  h.probe.up = true;
  h.probe.lastError = undefined;
  h.engine.onMasterProbe(true, undefined);
}

/** A replica's session asks the master through the gate; closes it when the gate says so. */
function psync(h: Harness, node: ReplicaNode, reply: FullSyncStart): 'relay' | 'close' {
  const session = h.proxy.connect(node);
  const verdict = h.engine.gate(session, reply);
  if (verdict === 'close') session.close('gated');
  return verdict;
}

/** The incoming node finished its full sync: INFO says linked, the proxy saw it stream + ACK. */
function finishSync(h: Harness, node: ReplicaNode, keys: number): void {
  const model = h.ops.model(node.id);
  assert.equal(model.role, 'slave', `${node.id} was attached before its sync finishes`);
  Object.assign(model, { linkUp: true, syncInProgress: false, loading: false, keys });
  h.proxy.stream(node);
}

function diskStep(dir: string): FailoverStep | 'none' {
  return onDisk(dir).failover?.step ?? 'none';
}

async function waitForStep(dir: string, step: FailoverStep): Promise<void> {
  await waitFor(() => diskStep(dir) === step, { what: `persisted step ${step}`, ...WAIT });
}

async function waitForCompleted(dir: string): Promise<PersistedState> {
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
function countingLoops(): {
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
async function waitForAttached(h: Harness): Promise<void> {
  await waitFor(
    () => {
      const model = h.ops.model(B.id);
      return model.role === 'slave' && model.followsProxy && diskStep(h.dir) === 'syncing';
    },
    { what: 'the standby attached', ...WAIT },
  );
}

/**
 * Waits until the engine ran at least `ticks` whole ticks: each tick views both nodes first, so
 * 2·(ticks + 1) more views cover a tick already under way.
 */
async function waitTicks(h: Harness, ticks: number): Promise<void> {
  const target = h.ops.callsOf('view').length + 2 * (ticks + 1);
  await waitFor(() => h.ops.callsOf('view').length >= target, { what: `${ticks} ticks`, ...WAIT });
}

/**
 * Records, at every FLUSHALL, what the state file says at that moment (I2: only the outgoing
 * node of a switched failover, the other one verified synced).
 */
function watchFlushes(ops: FakeNodeOps, dir: string): string[] {
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
async function heldEngine(): Promise<{ h: Harness; flushViolations: string[] }> {
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

// ---- tests -------------------------------------------------------------------------------------

describe('FailoverEngine: a whole unplanned failover', () => {
  test('I3: failover.completed is emitted only once the state file names the new active', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const checks: string[] = [];
    let completedSeen: { disk: PersistedState; event: RbuddyEvent } | undefined;
    const sink: EventSink = {
      deliver(event) {
        const disk = onDisk(dir);
        if (event.type === 'failover.completed') completedSeen = { disk, event };
        // Every event's roles and epoch are those on disk when it is announced.
        if (disk.active !== event.data.active || disk.epoch !== event.epoch) {
          checks.push(
            `${event.type} announced ${event.data.active}@${event.epoch}, disk ${disk.active}@${disk.epoch}`,
          );
        }
      },
    };
    const h = await healthyEngine({ dir, ops, sink, config: { graceMs: 30 } });

    loseMaster(h);
    await waitForAttached(h);
    assert.equal(h.ops.model(A.id).role, 'master', 'the active was promoted');
    assert.deepEqual(h.ops.model(A.id).config, WRITE_GUARD, 'writes guarded');
    masterBack(h);
    finishSync(h, B, 990);
    const done = await waitForCompleted(dir);
    // The completed state is saved first, then standby.ready announces it.
    await waitFor(() => h.events.some((event) => event.type === 'standby.ready'), {
      what: 'standby.ready',
      ...WAIT,
    });

    assert.ok(completedSeen !== undefined, 'failover.completed was emitted');
    assert.equal(completedSeen.disk.active, B.id);
    assert.equal(completedSeen.disk.standby, A.id);
    assert.equal(completedSeen.disk.epoch, 4);
    assert.equal(completedSeen.event.epoch, 4);
    assert.equal(completedSeen.event.data.active, B.id);
    assert.equal(completedSeen.disk.failover?.step, 'switched');
    assert.deepEqual(checks, []);

    const types = h.events.map((event) => event.type).filter((type) => !type.startsWith('master.'));
    assert.deepEqual(types, [
      'active.promoted',
      'standby.attached',
      'standby.synced',
      'failover.completed',
      'standby.ready',
    ]);
    assert.equal(h.events[0]?.type, 'master.down');

    // The old active is the new, empty standby, guarded, its own settings kept; flushed once.
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
    assert.deepEqual(ops.model(A.id).config, WRITE_GUARD);
    assert.deepEqual(done.standbySavedConfig, ORIGINAL_CONFIG);
    assert.equal(ops.model(A.id).keys, 0);
    assert.equal(ops.model(B.id).keys, 990);
    // The new active has its own settings back.
    assert.deepEqual(ops.model(B.id).config, ORIGINAL_CONFIG);
    assert.ok(!ops.callsOf('guardWrites').includes(B.id), 'the incoming node is never guarded');
    assert.ok(!ops.callsOf('detach').includes(B.id), 'nor detached');
    assert.deepEqual(
      done.lastFailover?.timeline.map((entry) => entry.step),
      ['started', 'standby-attached', 'synced', 'switched', 'flushed', 'standby-ready'],
    );
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy again', ...WAIT });
    assert.deepEqual(h.engine.roles(), { active: B.id, standby: A.id });

    // The gate now protects B, the new active; A (an empty standby) may take a full sync.
    assert.equal(psync(h, B, FULLRESYNC), 'close');
    assert.equal(psync(h, A, FULLRESYNC), 'relay');
  });
});

describe('FailoverEngine: the write guard', () => {
  // Each node's own settings, different from each other and from Redis's defaults; a max-lag of
  // 0 turns Redis's min-replicas check off, so guarding min-replicas-to-write alone would not do.
  const A_OWN = { 'min-replicas-to-write': '3', 'min-replicas-max-lag': '0' };
  const B_OWN = { 'min-replicas-to-write': '2', 'min-replicas-max-lag': '0' };

  /** Healthy, as written before the standby was guarded: no standbySavedConfig at all. */
  function unguardedState(): PersistedState {
    const { version, epoch, active, standby, activeHoldsData, failover, lastFailover } =
      healthyState();
    return { version, epoch, active, standby, activeHoldsData, failover, lastFailover };
  }

  test('the idle standby is guarded once its settings are on disk; they survive restarts and come back exactly when it becomes the active', async () => {
    const dir = await stateDir(unguardedState());
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ keys: 1000, runId: 'run-a', config: { ...A_OWN } }),
      [B.id]: idleMasterModel({ runId: 'run-b', config: { ...B_OWN } }),
    });
    const savedWhenGuarded: unknown[] = [];
    ops.before('guardWrites', (node) => {
      if (node.id === B.id) savedWhenGuarded.push(onDisk(dir).standbySavedConfig);
    });
    const first = await healthyEngine({ dir, ops });
    await waitFor(() => ops.model(B.id).config['min-replicas-max-lag'] !== '0', {
      what: 'the standby guarded',
      ...WAIT,
    });
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD);
    assert.deepEqual(savedWhenGuarded, [B_OWN], 'its own settings were on disk first');
    await stopEngine(first);

    // A new process: the standby is still guarded, nothing is read again.
    const second = await healthyEngine({ dir, ops });
    await waitTicks(second, 3);
    assert.deepEqual(onDisk(dir).standbySavedConfig, B_OWN);
    // The standby restarts: its runtime settings are its own again. Guarded again, and what is
    // on disk stays its own settings (never re-read: they are known).
    ops.model(B.id).config = { ...B_OWN };
    await waitFor(() => savedWhenGuarded.length === 2, { what: 'guarded again', ...WAIT });
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD);
    assert.deepEqual(ops.callsOf('configGet'), [B.id]);
    await stopEngine(second);

    const third = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(third);
    await waitForAttached(third);
    assert.deepEqual(ops.model(A.id).config, WRITE_GUARD, 'the promoted active refuses writes');
    assert.deepEqual(onDisk(dir).failover?.savedConfig, A_OWN);
    masterBack(third);
    finishSync(third, B, 990);
    const done = await waitForCompleted(dir);
    assert.deepEqual(ops.model(B.id).config, B_OWN, 'the new active has its own settings back');
    assert.deepEqual(ops.model(A.id).config, WRITE_GUARD, 'the new standby refuses writes');
    assert.deepEqual(done.standbySavedConfig, A_OWN, 'its own settings kept for later');
  });

  test('on first start the standby is guarded, its own settings saved first', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel(),
      [B.id]: replicaModel({ followsProxy: false, keys: 0, config: { ...B_OWN } }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => ops.callsOf('attach').includes(A.id), { what: 'attach-active', ...WAIT });
    finishSync(h, A, 1000);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    assert.equal(ops.model(B.id).role, 'master', 'the standby detached');
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD);
    assert.deepEqual(onDisk(dir).standbySavedConfig, B_OWN);
  });

  test('a node holding our guard with nothing saved (a lost state dir): Redis defaults are kept, never the guard', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    ops.model(A.id).config = { ...WRITE_GUARD };
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    assert.deepEqual(onDisk(dir).failover?.savedConfig, REDIS_DEFAULTS);
  });
});

describe('FailoverEngine: flapping', () => {
  test('the master flapping and full resync demands during a failover never start a second one', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    const id = onDisk(dir).failover?.id;
    assert.ok(id !== undefined);

    for (let flap = 0; flap < 5; flap += 1) {
      masterBack(h);
      await waitTicks(h, 1);
      loseMaster(h);
      h.proxy.connect(A);
      h.proxy.loseUpstream(A, 'connection reset by the master');
      // The promoted active is not a replica any more, but a late PSYNC of it must not matter.
      assert.equal(psync(h, A, FULLRESYNC), 'close');
      await waitTicks(h, 2);
      assert.equal(onDisk(dir).failover?.id, id, `flap ${flap}: the same failover`);
      assert.equal(onDisk(dir).epoch, 3);
    }
    masterBack(h);
    finishSync(h, B, 990);
    const done = await waitForCompleted(dir);
    assert.equal(done.lastFailover?.id, id);
    assert.equal(done.epoch, 4, 'one switch');
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
    assert.equal(h.events.filter((event) => event.type === 'failover.completed').length, 1);
  });
});

interface CrashPoint {
  name: string;
  /** The persisted step the first process dies at. */
  step: FailoverStep;
  /** Config of the first process (the second uses the base config). */
  config?: Partial<DecideConfig>;
  /** What keeps the first process at that step (an operation failing), if anything. */
  block?: (ops: FakeNodeOps) => void;
  /** Whether the standby's sync finishes before the crash. */
  syncedBeforeCrash: boolean;
  standbyKeys: number;
}

const crashPoints: CrashPoint[] = [
  {
    name: 'promoting, before the active is promoted',
    step: 'promoting',
    block: (ops) => ops.failTimes('guardWrites', Infinity, 'crash: CONFIG SET', A.id),
    syncedBeforeCrash: false,
    standbyKeys: 990,
  },
  {
    name: 'promoting, the active promoted but the standby not yet attached',
    step: 'promoting',
    block: (ops) => ops.failTimes('attach', Infinity, 'crash: REPLICAOF', B.id),
    syncedBeforeCrash: false,
    standbyKeys: 990,
  },
  {
    name: 'syncing, the standby mid-sync',
    step: 'syncing',
    syncedBeforeCrash: false,
    standbyKeys: 990,
  },
  {
    name: 'held, waiting for an operator',
    step: 'held',
    syncedBeforeCrash: true,
    standbyKeys: 0,
  },
  {
    name: 'switched, draining',
    step: 'switched',
    config: { drainMs: 600_000 },
    syncedBeforeCrash: true,
    standbyKeys: 990,
  },
  {
    name: 'switched, between the switch and the flush',
    step: 'switched',
    block: (ops) => ops.failTimes('killClients', Infinity, 'crash: CLIENT KILL'),
    syncedBeforeCrash: true,
    standbyKeys: 990,
  },
];

describe('FailoverEngine: I2, a restart at any step carries on and flushes the right node once', () => {
  for (const crash of crashPoints) {
    test(crash.name, async () => {
      const dir = await stateDir(healthyState());
      const ops = healthyNodes();
      crash.block?.(ops);
      const first = await healthyEngine({ dir, ops, config: { graceMs: 30, ...crash.config } });
      loseMaster(first);
      if (crash.syncedBeforeCrash) {
        await waitForAttached(first);
        masterBack(first);
        finishSync(first, B, crash.standbyKeys);
      }
      await waitForStep(dir, crash.step);
      if (crash.block !== undefined) {
        await waitFor(() => /crash/.test(first.engine.status().lastError ?? ''), {
          what: 'the first process stuck on the blocked operation',
          ...WAIT,
        });
      }
      // It stays there (blocked, draining, waiting for the sync or an operator) …
      await waitTicks(first, 3);
      assert.equal(diskStep(dir), crash.step, 'the first process holds at the intended step');
      await stopEngine(first);
      assert.equal(diskStep(dir), crash.step, 'the first process died at the intended step');
      assert.deepEqual(ops.callsOf('flush'), [], 'nothing flushed before the crash');

      // The node models live on; the operations work again; a new process, a new proxy.
      for (const op of ['guardWrites', 'attach', 'killClients'] as const) ops.before(op, undefined);
      const flushViolations = watchFlushes(ops, dir);
      const second = await startEngine({ dir, ops });
      if (!crash.syncedBeforeCrash) {
        await waitForAttached(second);
        finishSync(second, B, crash.standbyKeys);
      }
      if (crash.step === 'held') {
        await waitFor(() => second.engine.state === 'held', {
          what: 'held after restart',
          ...WAIT,
        });
        // Until the standby's session is back through the new process, a confirm is refused.
        const early = second.engine.request('confirm');
        assert.ok(!early.accepted, 'no live session yet: refused');
        await waitFor(() => second.engine.state === 'failing-over', {
          what: 'back to syncing',
          ...WAIT,
        });
        second.proxy.stream(B);
        await waitFor(() => second.engine.state === 'held', { what: 'held again', ...WAIT });
        assert.deepEqual(second.engine.request('confirm'), { accepted: true });
      }
      const done = await waitForCompleted(dir);

      assert.deepEqual(ops.callsOf('flush'), [A.id], 'the outgoing node flushed exactly once');
      assert.deepEqual(flushViolations, []);
      assert.equal(done.epoch, 4, 'exactly one switch');
      assert.equal(done.active, B.id);
      assert.equal(done.standby, A.id);
      assert.equal(ops.model(A.id).keys, 0);
      assert.equal(ops.model(A.id).role, 'master');
      // The old active is the guarded standby, its own settings kept on disk; the new active
      // has its own back.
      assert.deepEqual(ops.model(A.id).config, WRITE_GUARD, 'the new standby refuses writes');
      assert.deepEqual(done.standbySavedConfig, ORIGINAL_CONFIG, 'the old active’s config kept');
      assert.deepEqual(ops.model(B.id).config, ORIGINAL_CONFIG, 'the new active’s config back');
      assert.equal(ops.model(B.id).keys, crash.standbyKeys, 'the new active kept its data');
      assert.ok(!ops.callsOf('guardWrites').includes(B.id));
      assert.ok(!ops.callsOf('detach').includes(B.id));
      const completed = [...first.events, ...second.events].filter(
        (event) => event.type === 'failover.completed',
      );
      assert.equal(completed.length, 1, 'one failover.completed across both processes');
      await waitFor(() => second.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    });
  }
});

describe('FailoverEngine: the PSYNC gate (I1)', () => {
  test('a FULLRESYNC for the active that holds data closes it and fails over at once', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    // Inside a 60 s grace period, with the master probe happy: at once all the same.
    await waitFor(() => onDisk(dir).failover !== null, { what: 'a failover record', ...WAIT });
    const record = onDisk(dir).failover;
    assert.equal(record?.kind, 'unplanned');
    assert.match(record?.reason ?? '', /full resync/);
    await waitForStep(dir, 'syncing');
    assert.equal(h.ops.model(A.id).role, 'master', 'the active was promoted, not resynced');
  });

  test('a snapshot after an inline SYNC for the active that holds data: the same gate', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });
    assert.equal(psync(h, A, INLINE_SYNC), 'close');
    await waitFor(() => onDisk(dir).failover !== null, { what: 'a failover record', ...WAIT });
    assert.match(onDisk(dir).failover?.reason ?? '', /full resync/);
    await waitForStep(dir, 'syncing');
    assert.equal(h.ops.model(A.id).role, 'master', 'the active was promoted, not resynced');
  });

  test('a FULLRESYNC for the standby is relayed and changes nothing', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });
    assert.equal(psync(h, B, FULLRESYNC), 'relay');
    assert.equal(psync(h, B, INLINE_SYNC), 'relay');
    await waitTicks(h, 3);
    assert.equal(onDisk(dir).failover, null);
    assert.equal(h.engine.state, 'healthy');
  });

  test('on first start (the active holds nothing yet) a FULLRESYNC for the active is relayed', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel({ runId: 'run-a' }),
      [B.id]: idleMasterModel({ runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => ops.callsOf('attach').includes(A.id), { what: 'attach-active', ...WAIT });
    assert.equal(psync(h, A, FULLRESYNC), 'relay');
    finishSync(h, A, 1000);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    assert.equal(onDisk(dir).activeHoldsData, true);
    // From now on I1 protects it.
    assert.equal(psync(h, A, FULLRESYNC), 'close');
  });

  test('with a corrupt state file, or before the state is read, every FULLRESYNC is refused', async () => {
    const dir = await stateDir('{"version":1,"epoch":');
    const proxy = new FakeProxy();
    const h = await startEngine({ dir, ops: healthyNodes() });
    assert.equal(h.engine.gate(proxy.connect(A), FULLRESYNC), 'close');
    assert.equal(h.engine.gate(proxy.connect(B), FULLRESYNC), 'close');
    assert.equal(h.engine.gate(proxy.connect(B), INLINE_SYNC), 'close');

    const unread = unstartedEngine(await stateDir(healthyState()), proxy);
    assert.equal(unread.gate(proxy.connect(B), FULLRESYNC), 'close', 'not started yet');
  });
});

describe('FailoverEngine: operator requests', () => {
  test('confirm and abort outside held, failover outside healthy: refused, naming the state', async () => {
    const dir = await stateDir(healthyState());
    const h = await healthyEngine({ dir, ops: healthyNodes() });

    for (const request of ['confirm', 'abort'] as const) {
      const answer = h.engine.request(request);
      assert.equal(answer.accepted, false);
      assert.ok(!answer.accepted, 'narrowing');
      assert.match(answer.reason, /held failover; the state is healthy/);
    }

    loseMaster(h);
    await waitFor(() => h.engine.state === 'master-lost', { what: 'master-lost', ...WAIT });
    const lost = h.engine.request('failover');
    assert.ok(!lost.accepted, 'refused');
    assert.match(lost.reason, /the state is master-lost/);
    await waitTicks(h, 3);
    assert.equal(onDisk(dir).failover, null, 'no failover started');
  });

  test('failover when healthy: a planned switch; nothing promoted; one pending request at a time', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const flushViolations = watchFlushes(ops, dir);
    const h = await healthyEngine({ dir, ops });

    assert.deepEqual(h.engine.request('failover'), { accepted: true });
    const again = h.engine.request('failover');
    assert.ok(!again.accepted, 'a second request while one is pending');
    await waitForAttached(h);
    assert.equal(onDisk(dir).failover?.kind, 'planned');
    assert.equal(h.engine.status().lastOperatorRequest?.outcome, 'carried-out');
    assert.equal(ops.model(A.id).role, 'slave', 'a planned switch keeps the active replicating');
    assert.deepEqual(ops.callsOf('guardWrites'), []);

    const during = h.engine.request('failover');
    assert.ok(!during.accepted, 'no failover during a failover');
    const confirm = h.engine.request('confirm');
    assert.ok(!confirm.accepted, 'nothing to confirm while syncing');

    finishSync(h, B, 1000);
    await waitForCompleted(dir);
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
    // Guarded and detached only after the switch, its settings restored for the flush, then
    // guarded as the new standby.
    assert.deepEqual(ops.callsOf('guardWrites'), [A.id, A.id]);
    assert.equal(ops.model(A.id).role, 'master');
    assert.deepEqual(ops.model(A.id).config, WRITE_GUARD);
    assert.deepEqual(onDisk(dir).standbySavedConfig, ORIGINAL_CONFIG);
  });

  test('a request the state overtakes before it runs: dropped, logged, and shown in status', async () => {
    const dir = await stateDir(healthyState());
    const logs: { msg: string; request?: string }[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
    );
    const h = await healthyEngine({
      dir,
      ops: healthyNodes(),
      config: { graceMs: 60_000 },
      logger,
    });

    assert.deepEqual(h.engine.request('failover'), { accepted: true });
    assert.equal(h.engine.status().lastOperatorRequest?.outcome, 'pending');
    // Before the loop's next round: the master goes away.
    loseMaster(h);
    const record = await waitFor(
      () => {
        const last = h.engine.status().lastOperatorRequest;
        return last?.outcome === 'pending' ? undefined : last;
      },
      { what: 'the request settled', ...WAIT },
    );
    assert.equal(record.request, 'failover');
    assert.equal(record.outcome, 'dropped');
    assert.match(
      record.reason ?? '',
      /^the state became master-lost before it ran: master unreachable/,
    );
    assert.equal(h.engine.state, 'master-lost');
    assert.equal(onDisk(dir).failover, null, 'no planned failover began');
    assert.ok(
      logs.some(
        (line) =>
          line.msg.startsWith('operator failover request dropped') && line.request === 'failover',
      ),
      'a warning says so',
    );
  });

  test('held: abort keeps the active and flushes nothing; a new failover request resumes', async () => {
    const { h, flushViolations } = await heldEngine();
    const { dir, ops } = h;

    assert.deepEqual(h.engine.request('abort'), { accepted: true });
    await waitForStep(dir, 'aborted');
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded (aborted)', ...WAIT });
    assert.equal(onDisk(dir).active, A.id);
    assert.equal(ops.model(A.id).keys, 1000);
    assert.equal(ops.model(B.id).role, 'master', 'the standby detached');
    assert.deepEqual(ops.model(B.id).config, WRITE_GUARD, 'and refuses writes');
    assert.deepEqual(ops.callsOf('flush'), []);

    assert.deepEqual(h.engine.request('failover'), { accepted: true });
    await waitForAttached(h);
    finishSync(h, B, 1000);
    const done = await waitForCompleted(dir);
    assert.equal(done.active, B.id);
    assert.deepEqual(ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
  });
});

describe('FailoverEngine: a held switch is verified again before it is confirmed', () => {
  /** B's redis-server restarts: a new process, an empty master, its runtime settings gone. */
  function restartStandby(h: Harness): void {
    Object.assign(h.ops.model(B.id), {
      role: 'master',
      followsProxy: false,
      linkUp: false,
      keys: 0,
      runId: 'run-b2',
      config: { ...ORIGINAL_CONFIG },
    });
    h.proxy.sessionFor(B.id)?.close('replica-hangup');
  }

  function assertNothingSwitched(h: Harness, flushViolations: string[]): void {
    const disk = onDisk(h.dir);
    assert.equal(disk.epoch, 3, 'no switch');
    assert.equal(disk.active, A.id);
    assert.deepEqual(h.ops.callsOf('flush'), [], 'nothing flushed');
    assert.deepEqual(flushViolations, []);
    assert.equal(h.ops.model(A.id).keys, 1000, 'the active keeps its keys');
    assert.ok(!h.events.some((event) => event.type === 'failover.completed'));
  }

  test('the standby restarted: a confirm is refused, back to waiting for its sync; synced again, held for the new process', async () => {
    const { h, flushViolations } = await heldEngine();
    restartStandby(h);
    const answer = h.engine.request('confirm');
    assert.ok(!answer.accepted, 'refused');
    assert.match(answer.reason, /^confirm refused: .*10\.0\.0\.6:6379/);
    await waitFor(() => h.events.some((event) => event.type === 'failover.failed'), {
      what: 'back to syncing, announced',
      ...WAIT,
    });
    assert.equal(diskStep(h.dir), 'syncing');
    assertNothingSwitched(h, flushViolations);
    const resync = onDisk(h.dir).failover?.timeline.at(-1);
    assert.equal(resync?.step, 'resync');
    assert.match(resync?.detail ?? '', /^confirm refused/);
    // Refused and not pending: the operator may ask again once it is held again.
    assert.equal(h.engine.status().lastOperatorRequest, null);

    // The failover goes on: the standby is attached again, syncs, and is held again for the
    // new process, whose confirm then switches.
    await waitFor(() => h.ops.model(B.id).role === 'slave', { what: 're-attached', ...WAIT });
    finishSync(h, B, 0);
    await waitFor(() => h.engine.state === 'held', { what: 'held again', ...WAIT });
    assert.equal(onDisk(h.dir).failover?.syncedRunId, 'run-b2');
    assert.equal(h.events.filter((event) => event.type === 'failover.held').length, 2);
    assert.deepEqual(h.engine.request('confirm'), { accepted: true });
    const done = await waitForCompleted(h.dir);
    assert.equal(done.active, B.id);
    assert.deepEqual(h.ops.callsOf('flush'), [A.id]);
    assert.deepEqual(flushViolations, []);
  });

  test('a confirm accepted, then the standby restarts before the loop acts: the loop refuses it, nothing switched', async () => {
    const { h, flushViolations } = await heldEngine();
    assert.deepEqual(h.engine.request('confirm'), { accepted: true });
    // In the same turn, before the loop's next round observes anything.
    restartStandby(h);
    await waitFor(() => h.engine.state === 'failing-over', { what: 'back to syncing', ...WAIT });
    assertNothingSwitched(h, flushViolations);
    const record = h.engine.status().lastOperatorRequest;
    assert.equal(record?.outcome, 'dropped');
    assert.match(record?.reason ?? '', /confirm refused: the standby 10\.0\.0\.6:6379 restarted/);
  });

  test('held without a confirm: a standby that restarted is not held on to, the failover waits for its sync', async () => {
    const { h, flushViolations } = await heldEngine();
    restartStandby(h);
    await waitFor(() => h.engine.state === 'failing-over', { what: 'back to syncing', ...WAIT });
    assert.equal(diskStep(h.dir), 'syncing');
    assertNothingSwitched(h, flushViolations);
    assert.match(
      onDisk(h.dir).failover?.timeline.at(-1)?.detail ?? '',
      /^the standby 10\.0\.0\.6:6379 restarted since it synced \(run_id run-b2, not run-b\)/,
    );
  });
});

describe('FailoverEngine: failures are retried with backoff and visible (I4)', () => {
  test('an operation failing 3 times: retry policy consulted, lastError shown and logged, then success', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const logs: { msg: string; attempt?: number; err?: { message: string } }[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
    );
    const attempts: [number, string][] = [];
    const retry: RetryPolicy = (attempt, cause) => {
      attempts.push([attempt, cause instanceof Error ? cause.message : String(cause)]);
      return 10;
    };
    // The hook runs inside the engine's tick: it reads the status the operator would see.
    const seen: { engine?: FailoverEngine } = {};
    const lastErrorAtCall: (string | null)[] = [];
    ops.before('guardWrites', (_node, call) => {
      lastErrorAtCall.push(seen.engine?.status().lastError ?? null);
      if (call <= 3) throw new Error(`CONFIG SET timed out after 1000 ms (call ${call})`);
    });
    const h = await healthyEngine({ dir, ops, retry, logger });
    seen.engine = h.engine;

    psync(h, A, FULLRESYNC);
    await waitForStep(dir, 'syncing');
    await waitFor(() => h.engine.status().lastError === null, {
      what: 'lastError cleared',
      ...WAIT,
    });

    assert.deepEqual(attempts, [
      [0, 'CONFIG SET timed out after 1000 ms (call 1)'],
      [1, 'CONFIG SET timed out after 1000 ms (call 2)'],
      [2, 'CONFIG SET timed out after 1000 ms (call 3)'],
    ]);
    assert.deepEqual(lastErrorAtCall, [
      null,
      'CONFIG SET timed out after 1000 ms (call 1)',
      'CONFIG SET timed out after 1000 ms (call 2)',
      'CONFIG SET timed out after 1000 ms (call 3)',
    ]);
    const retries = logs.filter((line) => line.msg === 'failover step failed; retrying');
    assert.deepEqual(
      retries.map((line) => [line.attempt, line.err?.message]),
      [1, 2, 3].map((n) => [n, `CONFIG SET timed out after 1000 ms (call ${n})`]),
    );
    assert.equal(ops.model(A.id).role, 'master', 'promoted in the end');

    // A later failure starts a new series: the policy sees attempt 0 again.
    ops.failTimes('killClients', 2, 'CLIENT KILL timed out after 1000 ms');
    finishSync(h, B, 990);
    await waitForCompleted(dir);
    assert.deepEqual(attempts.slice(3), [
      [0, 'CLIENT KILL timed out after 1000 ms'],
      [1, 'CLIENT KILL timed out after 1000 ms'],
    ]);
  });

  test('a promotion retried while the standby cannot be attached announces active.promoted once', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    ops.failTimes('attach', 4, 'connect ECONNREFUSED 10.0.0.6:6379', B.id);
    const h = await healthyEngine({ dir, ops, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForStep(dir, 'syncing');
    assert.ok(ops.callsOf('attach').filter((id) => id === B.id).length >= 5, 'attach retried');
    const promoted = h.events.filter((event) => event.type === 'active.promoted');
    assert.equal(promoted.length, 1, 'one active.promoted, however many retries');
  });
});

describe('FailoverEngine: bad state files', () => {
  test('a corrupt state file: degraded naming the file, and no node operation but INFO, ever', async () => {
    const garbage = '{"version":1,"epoch":3,"active":"10.0.0.5:6379",';
    const dir = await stateDir(garbage);
    const ops = healthyNodes();
    const loops = countingLoops();
    const h = await startEngine({ dir, ops, config: { graceMs: 0 }, patch: loops.patch });
    const file = join(dir, 'state.json');

    const status = h.engine.status();
    assert.equal(status.state, 'degraded');
    assert.ok(status.reason?.includes(file), `the reason names ${file}: ${status.reason ?? ''}`);
    assert.match(status.reason ?? '', /not valid JSON/);

    // Everything that would otherwise act: the master lost, the active's upstream lost, a full
    // resync demand, an operator.
    loseMaster(h);
    h.proxy.connect(A);
    h.proxy.loseUpstream(A, 'master gone');
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    const answer = h.engine.request('failover');
    assert.ok(!answer.accepted && answer.reason.includes(file));
    const start = loops.rounds();
    await waitFor(() => loops.rounds() >= start + 20, { what: '20 rounds of the loop', ...WAIT });

    assert.deepEqual(ops.operations(), [], 'no node operation but INFO');
    assert.equal(h.engine.state, 'degraded');
    assert.equal(h.engine.ready(), false);
    // Discovery names the node the nodes show serving: A replicates from the proxy with data.
    assert.deepEqual(h.engine.roles(), { active: A.id, standby: B.id });
    assert.equal(h.events.length, 0, 'no event announces anything');
    assert.equal(await readFile(file, 'utf8'), garbage, 'the file is left for the operator');
  });

  test('a state file naming other nodes than the configuration: degraded, nothing done', async () => {
    const dir = await stateDir({ ...healthyState(), active: '10.9.9.9:6379' });
    const ops = healthyNodes();
    const loops = countingLoops();
    const h = await startEngine({ dir, ops, patch: loops.patch });
    const status = h.engine.status();
    assert.equal(status.state, 'degraded');
    assert.match(status.reason ?? '', /10\.9\.9\.9:6379/);
    assert.ok(status.reason?.includes(join(dir, 'state.json')));
    loseMaster(h);
    assert.equal(psync(h, A, FULLRESYNC), 'close');
    assert.equal(h.engine.request('failover').accepted, false);
    const start = loops.rounds();
    await waitFor(() => loops.rounds() >= start + 20, { what: '20 rounds of the loop', ...WAIT });
    assert.deepEqual(ops.operations(), []);
    assert.equal(h.engine.state, 'degraded');
  });
});

describe('FailoverEngine: no state file, roles from the nodes', () => {
  test('the configured standby serves: adopted as the active, nothing flushed, even with --init-flush-standby', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel({ runId: 'run-a' }),
      [B.id]: replicaModel({ keys: 1000, runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops, config: { initFlushStandby: true } });
    await waitFor(() => h.engine.status().epoch !== null, { what: 'roles persisted', ...WAIT });
    h.proxy.stream(B);
    await waitFor(() => h.engine.state === 'healthy', { what: 'healthy', ...WAIT });
    // The adopted standby, an idle master, gets the write guard; nothing else is done.
    assert.deepEqual(
      ops.operations(),
      [
        { op: 'configGet', node: A.id },
        { op: 'guardWrites', node: A.id },
      ],
      'no node operation but guarding the idle standby',
    );
    const disk = onDisk(dir);
    assert.deepEqual([disk.active, disk.standby, disk.epoch], [B.id, A.id, 0]);
    assert.equal(disk.activeHoldsData, true);
    assert.equal(h.events.length, 0, 'no role changed: nothing announced');
    assert.equal(psync(h, B, FULLRESYNC), 'close', 'I1 protects the adopted active');
  });

  test('an active found promoted: a stopped failover, degraded; a failover request resumes it', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: idleMasterModel({ keys: 1000, runId: 'run-a', config: { ...WRITE_GUARD } }),
      [B.id]: replicaModel({ keys: 0, linkUp: false, syncInProgress: true, runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops });
    await waitFor(() => h.engine.status().failover?.step === 'aborted', {
      what: 'the adopted failover',
      ...WAIT,
    });
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
    assert.match(h.engine.status().reason ?? '', /no state file, but the nodes show 10\.0\.0\.5/);
    const record = onDisk(dir).failover;
    assert.deepEqual([record?.outgoing, record?.incoming], [A.id, B.id]);
    assert.deepEqual(record?.savedConfig, ORIGINAL_CONFIG, "Redis's defaults, to be restored");
    assert.deepEqual(
      ops.operations(),
      [
        { op: 'detach', node: B.id },
        { op: 'configGet', node: B.id },
        { op: 'guardWrites', node: B.id },
      ],
      'only the empty replica: detached, then guarded as an idle standby',
    );

    assert.equal(h.engine.request('failover').accepted, true);
    await waitForAttached(h);
    assert.deepEqual(ops.callsOf('flush'), []);
  });

  test('both nodes replicate from the proxy with data: degraded naming both, nothing written or done', async () => {
    const dir = await stateDir();
    const ops = new FakeNodeOps({
      [A.id]: replicaModel({ runId: 'run-a' }),
      [B.id]: replicaModel({ runId: 'run-b' }),
    });
    const h = await startEngine({ dir, ops, config: { initFlushStandby: true } });
    await waitFor(() => h.engine.state === 'degraded', { what: 'degraded', ...WAIT });
    await waitTicks(h, 3);
    assert.match(h.engine.status().reason ?? '', /both nodes may be serving reads/);
    assert.deepEqual(ops.operations(), []);
    assert.equal(h.engine.roles(), undefined, 'discovery names no one rather than guess');
    await assert.rejects(readFile(join(dir, 'state.json')), { code: 'ENOENT' });
    assert.equal(h.engine.request('failover').accepted, false);
  });
});

describe('FailoverEngine: start and stop', () => {
  test('the persisted epoch and roles are known after load(), before the loop runs', async () => {
    const dir = await stateDir({ ...healthyState(), epoch: 7, active: B.id, standby: A.id });
    const engine = unstartedEngine(dir);
    await engine.load();
    const status = engine.status();
    assert.equal(status.epoch, 7);
    assert.deepEqual(engine.roles(), { active: B.id, standby: A.id });
    assert.equal(engine.ready(), false, 'not ready before the loop has seen the active');
    assert.equal(engine.stopping, false);
  });

  test('ready() turns false at the first moment of a shutdown, before stop() resolves', async () => {
    const h = await healthyEngine({ dir: await stateDir(healthyState()), ops: healthyNodes() });
    await waitFor(() => h.engine.ready(), { what: 'ready', ...WAIT });
    assert.equal(h.engine.stopping, false);
    const stopped = stopEngine(h);
    assert.equal(h.engine.ready(), false);
    assert.equal(h.engine.stopping, true);
    await stopped;
    assert.equal(h.engine.ready(), false);
  });
});

describe('FailoverEngine: the events of a switch survive a kill -9 before the outbox has them', () => {
  test('saved with the new roles in one write; the next start sends them, same ids, once', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    // What a kill -9 leaves when it strikes as the outbox is about to store failover.completed:
    // the state file as it is at that instant, and an outbox without the event.
    const crashDir = await stateDir();
    const outbox: DurableSink = {
      // The engine waits for this before it touches the state file again.
      store: (event) =>
        event.type === 'failover.completed'
          ? copyFile(join(dir, 'state.json'), join(crashDir, 'state.json'))
          : Promise.resolve(),
    };
    const h = await healthyEngine({ dir, ops, durable: outbox, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    masterBack(h);
    finishSync(h, B, 990);
    await waitForCompleted(dir);
    await stopEngine(h);
    const emitted = h.events.filter((event) => event.type === 'failover.completed');
    assert.equal(emitted.length, 1);
    const [completed] = emitted;
    assert.ok(completed !== undefined);
    // The state the crash left: the new roles, and the events that announce them.
    const left = onDisk(crashDir);
    assert.equal(left.active, B.id);
    assert.equal(left.epoch, 4);
    assert.equal(left.failover?.step, 'switched');
    assert.deepEqual(
      left.unannounced?.map((event) => event.type),
      ['standby.synced', 'failover.completed'],
    );
    assert.deepEqual(
      left.unannounced?.find((event) => event.type === 'failover.completed'),
      completed,
      'the very event, same id and body',
    );
    // Once the outbox had them, the first process dropped them from its state.
    assert.deepEqual(onDisk(dir).unannounced, []);

    // The next process, from what the crash left: it sends them once, with the same ids.
    const stored: RbuddyEvent[] = [];
    const secondOutbox: DurableSink = {
      store(event) {
        stored.push(event);
        return Promise.resolve();
      },
    };
    const second = await startEngine({ dir: crashDir, ops, durable: secondOutbox });
    assert.deepEqual(
      stored.filter((event) => event.type === 'failover.completed'),
      [completed],
      'sent during load(), before the loop runs',
    );
    assert.deepEqual(onDisk(crashDir).unannounced, [], 'and no longer pending');
    await waitForCompleted(crashDir);
    await stopEngine(second);

    // A third start has nothing left to send.
    stored.length = 0;
    const third = await startEngine({ dir: crashDir, ops, durable: secondOutbox });
    await waitTicks(third, 1);
    assert.deepEqual(
      stored.filter((event) => event.type.startsWith('failover.')),
      [],
      'nothing sent again',
    );
  });

  test('an outbox that cannot store them: the failover goes on, and they stay for the next start', async () => {
    const dir = await stateDir(healthyState());
    const ops = healthyNodes();
    const broken: DurableSink = {
      store: () => Promise.reject(new Error('ENOSPC: no space left on device')),
    };
    const h = await healthyEngine({ dir, ops, durable: broken, config: { graceMs: 30 } });
    loseMaster(h);
    await waitForAttached(h);
    masterBack(h);
    finishSync(h, B, 990);
    const done = await waitForCompleted(dir);
    assert.deepEqual(
      done.unannounced?.map((event) => event.type),
      ['standby.synced', 'failover.completed'],
    );
    const completed = h.events.find((event) => event.type === 'failover.completed');
    assert.equal(done.unannounced?.[1]?.id, completed?.id);
  });
});
