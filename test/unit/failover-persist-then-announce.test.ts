// I3 as a property of the engine, whatever the action: a recording state store and event bus
// see one history of saves and announcements while the engine goes through whole failovers
// (unplanned; planned, held and confirmed; held and aborted), and every event announced must
// name roles and an epoch that a save had already put on disk. Then: a decision whose state
// transition the table refuses runs none of its actions and consumes none of its inputs. Last, the
// StateKeeper itself: only the activeHoldsData mark is held in memory before it is on disk, and
// events are announced durably only with a state to save them in.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { EventBus, type EventType, type RbuddyEvent } from '../../src/notify/events.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';
import type { SessionInfo } from '../../src/proxy/session-types.js';
import {
  decide,
  type DecideConfig,
  type Decision,
  type Observations,
} from '../../src/standby/decide.js';
import { FailoverEngine } from '../../src/standby/engine.js';
import type { PersistedState } from '../../src/standby/persisted-state.js';
import { StateKeeper } from '../../src/standby/persist-then-announce.js';
import type { LoadResult, StateStore } from '../../src/standby/state-store.js';
import { WRITE_GUARD } from '../../src/standby/node-ops.js';
import {
  FakeNodeOps,
  idleMasterModel,
  ORIGINAL_CONFIG,
  replicaModel,
} from '../helpers/fake-node-ops.js';
import { EVENT_TYPES } from '../helpers/event-types.js';
import { FakeProbe, FakeProxy, replicaHello } from '../helpers/fake-proxy.js';
import { waitFor } from '../../harness/wait-for.js';

const A: ReplicaNode = { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 };
const B: ReplicaNode = { id: '10.0.0.6:6379', host: '10.0.0.6', port: 6379 };
const WAIT = { timeoutMs: 10_000, intervalMs: 2 };
const CONFIG: DecideConfig = {
  graceMs: 30,
  drainMs: 20,
  syncTimeoutMs: 60_000,
  guardEmpty: 'hold',
  guardShrink: 0,
  initFlushStandby: false,
};

/** What an announcement may rely on being persisted: the roles, the epoch, the failover. */
interface Persisted {
  epoch: number | null;
  active: string | null;
  standby: string | null;
  failover: PersistedState['failover'];
}

/**
 * One history of what reached the disk and what was announced, in order; with each event, the
 * state the engine held as persisted when it announced it.
 */
type Entry =
  | { kind: 'on-disk'; state: PersistedState }
  | { kind: 'announced'; event: RbuddyEvent; held: Persisted | undefined };

function persistedPart(state: Persisted): Persisted {
  const { epoch, active, standby, failover } = state;
  return structuredClone({ epoch, active, standby, failover });
}

/** A state store in memory that records each save once it is durable (as StateFile resolves). */
class RecordingStore implements StateStore {
  readonly file = 'memory://state';
  private state: PersistedState | undefined;

  constructor(
    private readonly history: Entry[],
    initial: PersistedState,
  ) {
    this.state = structuredClone(initial);
    history.push({ kind: 'on-disk', state: structuredClone(initial) });
  }

  load(): Promise<LoadResult> {
    return Promise.resolve(
      this.state === undefined
        ? { kind: 'missing', file: this.file }
        : { kind: 'ok', file: this.file, state: structuredClone(this.state) },
    );
  }

  async save(state: PersistedState): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.state = structuredClone(state);
    this.history.push({ kind: 'on-disk', state: structuredClone(state) });
  }
}

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

const running: FailoverEngine[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((engine) => engine.stop()));
});

interface Harness {
  engine: FailoverEngine;
  ops: FakeNodeOps;
  proxy: FakeProxy;
  probe: FakeProbe;
  history: Entry[];
}

async function healthyEngine(decideWith: typeof decide = decide): Promise<Harness> {
  const history: Entry[] = [];
  const ops = new FakeNodeOps({
    [A.id]: replicaModel({ keys: 1000, runId: 'run-a' }),
    [B.id]: idleMasterModel({ runId: 'run-b', config: { ...WRITE_GUARD } }),
  });
  const proxy = new FakeProxy();
  const probe = new FakeProbe();
  const logger = pino({ level: 'silent' });
  const bus = new EventBus('rbuddy', logger);
  const built: { engine?: FailoverEngine } = {};
  bus.addSink({
    deliver: (event) => {
      const status = built.engine?.status();
      history.push({ kind: 'announced', event, held: status && persistedPart(status) });
    },
  });
  const engine = new FailoverEngine({
    nodes: [A, B],
    initialActive: A,
    initialStandby: B,
    masterId: '10.0.0.2:6379',
    config: CONFIG,
    store: new RecordingStore(history, healthyState()),
    ops,
    probe,
    sessions: proxy,
    bus,
    logger,
    tickMs: 5,
    retry: () => 5,
    decide: decideWith,
  });
  built.engine = engine;
  running.push(engine);
  await engine.start();
  proxy.stream(A);
  await waitFor(() => engine.state === 'healthy', { what: 'healthy', ...WAIT });
  return { engine, ops, proxy, probe, history };
}

function finishSync(h: Harness, node: ReplicaNode, keys: number): void {
  Object.assign(h.ops.model(node.id), {
    linkUp: true,
    syncInProgress: false,
    loading: false,
    keys,
  });
  h.proxy.stream(node);
}

function announced(h: Harness): EventType[] {
  return h.history.flatMap((entry) => (entry.kind === 'announced' ? [entry.event.type] : []));
}

async function waitForEvent(h: Harness, type: EventType): Promise<void> {
  await waitFor(() => announced(h).includes(type), { what: type, ...WAIT });
}

async function waitForSwitchedBack(h: Harness): Promise<void> {
  await waitForEvent(h, 'standby.ready');
  await waitFor(() => h.engine.state === 'healthy', { what: 'healthy again', ...WAIT });
  assert.deepEqual(h.engine.roles(), { active: B.id, standby: A.id });
}

/**
 * I3: at each announcement, the last state on disk names the roles and epoch the event
 * announces, and is the state the engine announces from (so an event never runs ahead of a
 * failover step that is not on disk yet). Returns the violations (empty when it holds).
 */
function announcedBeforeSaved(history: readonly Entry[]): string[] {
  const violations: string[] = [];
  let disk: PersistedState | undefined;
  for (const entry of history) {
    if (entry.kind === 'on-disk') {
      disk = entry.state;
      continue;
    }
    const { event } = entry;
    const named = `${event.type} (${event.data.active}/${event.data.standby}@${event.epoch})`;
    if (disk === undefined) violations.push(`${named} before any state was on disk`);
    else if (
      disk.active !== event.data.active ||
      disk.standby !== event.data.standby ||
      disk.epoch !== event.epoch
    ) {
      violations.push(`${named}, on disk ${disk.active}/${disk.standby}@${disk.epoch}`);
    } else if (!isDeepStrictEqual(entry.held, persistedPart(disk))) {
      violations.push(`${named} from a state not on disk: ${JSON.stringify(entry.held)}`);
    }
  }
  return violations;
}

describe('FailoverEngine: every event announces a state already persisted (I3)', () => {
  const seen = new Set<EventType>();

  test('an unplanned failover', async () => {
    const h = await healthyEngine();
    h.probe.up = false;
    h.probe.lastError = 'connect ECONNREFUSED';
    h.engine.onMasterProbe(false, h.probe.lastError);
    await waitForEvent(h, 'standby.attached');
    h.probe.up = true;
    h.probe.lastError = undefined;
    h.engine.onMasterProbe(true, undefined);
    finishSync(h, B, 990);
    await waitForSwitchedBack(h);

    assert.deepEqual(announcedBeforeSaved(h.history), []);
    assert.deepEqual(
      announced(h).filter((type) => !type.startsWith('master.')),
      [
        'active.promoted',
        'standby.attached',
        'standby.synced',
        'failover.completed',
        'standby.ready',
      ],
    );
    for (const type of announced(h)) seen.add(type);
  });

  test('a planned failover, held (the standby synced empty) and confirmed', async () => {
    const h = await healthyEngine();
    assert.equal(h.engine.request('failover').accepted, true);
    await waitForEvent(h, 'standby.attached');
    finishSync(h, B, 0);
    await waitFor(() => h.engine.state === 'held', { what: 'held', ...WAIT });
    assert.equal(h.engine.request('confirm').accepted, true);
    await waitForSwitchedBack(h);

    assert.deepEqual(announcedBeforeSaved(h.history), []);
    assert.deepEqual(announced(h), [
      'standby.attached',
      'standby.synced',
      'failover.held',
      'failover.completed',
      'standby.ready',
    ]);
    for (const type of announced(h)) seen.add(type);
  });

  test('a planned failover, held and aborted', async () => {
    const h = await healthyEngine();
    assert.equal(h.engine.request('failover').accepted, true);
    await waitForEvent(h, 'standby.attached');
    finishSync(h, B, 0);
    await waitFor(() => h.engine.state === 'held', { what: 'held', ...WAIT });
    assert.equal(h.engine.request('abort').accepted, true);
    await waitForEvent(h, 'failover.failed');

    assert.deepEqual(announcedBeforeSaved(h.history), []);
    for (const type of announced(h)) seen.add(type);
  });

  test('together they announced every kind of event', () => {
    assert.deepEqual([...seen].sort(), [...EVENT_TYPES].sort());
  });
});

describe('FailoverEngine: a refused state transition', () => {
  test('a decision whose state the table does not allow runs none of its actions', async () => {
    const forcing: { decision?: Decision } = {};
    const told: Observations[] = [];
    const h = await healthyEngine((persisted, observations, config) => {
      told.push(observations);
      const decision = decide(persisted, observations, config);
      return forcing.decision ?? decision;
    });
    const saves = h.history.filter((entry) => entry.kind === 'on-disk').length;
    const operations = h.ops.operations().length;
    const events = announced(h).length;

    // healthy → held is not in the table; the actions would begin a failover and flush.
    forcing.decision = {
      state: 'held',
      reason: 'a decision the engine may not take from healthy',
      actions: [
        { kind: 'begin-failover', failoverKind: 'planned', reason: 'refused' },
        { kind: 'retire-outgoing' },
      ],
    };
    // The master demands a full resync of the active while the decisions are refused.
    const session: SessionInfo = { id: 'gated', node: A, hello: replicaHello(A.port) };
    assert.equal(
      h.engine.gate(session, { via: 'fullresync', replid: 'f'.repeat(40), offset: 1 }),
      'close',
    );
    const demandedFrom = told.length;
    assert.equal(h.engine.request('failover').accepted, true);
    const views = h.ops.callsOf('view').length;
    await waitFor(() => h.ops.callsOf('view').length >= views + 10, { what: '5 rounds', ...WAIT });

    assert.equal(h.engine.state, 'healthy');
    assert.equal(h.history.filter((entry) => entry.kind === 'on-disk').length, saves);
    assert.equal(h.ops.operations().length, operations, 'no command but INFO');
    assert.equal(announced(h).length, events);
    assert.equal(h.engine.status().lastError, null, 'nothing ran, so nothing failed');
    assert.equal(h.engine.status().failover, null);
    // The operator is told that the refusal dropped the request, rather than left guessing.
    const request = h.engine.status().lastOperatorRequest;
    assert.equal(request?.outcome, 'dropped');
    assert.match(request?.reason ?? '', /cannot go from healthy to held/);
    // The demand is not consumed by a refused decision: every round is told it again...
    const refusedRounds = told.slice(demandedFrom);
    assert.ok(refusedRounds.length >= 5);
    assert.ok(refusedRounds.every((observations) => observations.fullResyncDemanded));

    // ...until a decision is accepted: then it starts the failover it demands.
    delete forcing.decision;
    await waitFor(() => h.engine.state === 'failing-over', { what: 'failing over', ...WAIT });
    assert.equal(h.engine.status().reason, 'the master demanded a full resync of the active');
    assert.equal(h.engine.status().failover?.kind, 'unplanned');
  });
});

describe('StateKeeper: what may be held in memory before it is on disk', () => {
  function keeper(initial: PersistedState): {
    keeper: StateKeeper;
    history: Entry[];
    sent: RbuddyEvent[];
  } {
    const history: Entry[] = [];
    const sent: RbuddyEvent[] = [];
    const log = pino({ level: 'silent' });
    const bus = new EventBus('rbuddy', log);
    bus.addSink({ deliver: (event) => sent.push(event) });
    const store = new RecordingStore(history, initial);
    const made = new StateKeeper({ store, bus, masterId: '10.0.0.2:6379', log });
    made.loaded(structuredClone(initial));
    return { keeper: made, history, sent };
  }
  const onDisk = (history: readonly Entry[]): PersistedState[] =>
    history.flatMap((entry) => (entry.kind === 'on-disk' ? [entry.state] : []));

  test('the activeHoldsData mark: held before the write lands, then saved', async () => {
    const k = keeper({ ...healthyState(), activeHoldsData: false });
    const marking = k.keeper.commit({ markActiveHoldsData: true }, () => undefined);
    assert.equal(k.keeper.current?.activeHoldsData, true, 'the gate protects at once');
    assert.equal(onDisk(k.history).length, 1, 'not on disk yet');
    await marking;
    assert.deepEqual(onDisk(k.history).at(-1), { ...healthyState(), activeHoldsData: true });
  });

  test('any other state: held only once it is on disk', async () => {
    const k = keeper(healthyState());
    const switched = { ...healthyState(), epoch: 4, active: B.id, standby: A.id };
    const committing = k.keeper.commit({ state: switched }, () => undefined);
    assert.equal(k.keeper.current?.epoch, 3, 'not held before the write lands');
    await committing;
    assert.equal(k.keeper.current?.epoch, 4);
  });

  test('the mark carrying another state is refused: nothing held, saved or sent', async () => {
    const k = keeper({ ...healthyState(), activeHoldsData: false });
    const remembered: string[] = [];
    const switched = { ...healthyState(), epoch: 4, active: B.id, standby: A.id };
    await assert.rejects(
      k.keeper.commit(
        {
          markActiveHoldsData: true,
          state: switched,
          announce: [{ type: 'failover.completed', data: {} }],
        },
        () => remembered.push('remembered'),
      ),
      /marks the active as holding data carries no other state/,
    );
    assert.deepEqual(k.keeper.current, { ...healthyState(), activeHoldsData: false });
    assert.equal(onDisk(k.history).length, 1);
    assert.deepEqual(remembered, []);
    assert.deepEqual(k.sent, []);
  });
});
