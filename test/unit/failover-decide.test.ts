// decide() — the failover decision — as a table: every state/step × observation,
// including the unlikely ones (both replicas claim to be masters with data, a standby that
// already holds keys, the master returning mid-promotion, flapping during a failover). Each row
// names the expected state and the exact actions. A property test then throws random
// observations at it: destructive actions only ever come from the steps that allow them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decide,
  heldStandbyProblem,
  isSynced,
  type Action,
  type DecideConfig,
  type Observations,
  type OperatorRequest,
} from '../../src/standby/decide.js';
import type { NodeView, SessionView } from '../../src/standby/node-view.js';
import type {
  FailoverRecord,
  FailoverStep,
  PersistedState,
} from '../../src/standby/persisted-state.js';
import { ENGINE_STATES, type EngineState } from '../../src/standby/states.js';
import type { SessionPhase } from '../../src/proxy/session-types.js';
import { down, master, PROXY, replica, syncing } from '../helpers/node-views.js';

const A = '10.0.0.5:6379';
const B = '10.0.0.6:6379';
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

const CONFIG: DecideConfig = {
  graceMs: 1000,
  drainMs: 500,
  syncTimeoutMs: 60_000,
  guardEmpty: 'hold',
  guardShrink: 0.5,
  initFlushStandby: false,
};

// ---- node and session views --------------------------------------------------------------------

const STREAMING: SessionView = { phase: 'streaming', streamingAcked: true };
const SNAPSHOT: SessionView = { phase: 'snapshot', streamingAcked: false };
const NO_SESSION: SessionView = { phase: undefined, streamingAcked: false };

// ---- persisted states --------------------------------------------------------------------------

function steady(overrides: Partial<PersistedState> = {}): PersistedState {
  return {
    version: 1,
    epoch: 7,
    active: A,
    standby: B,
    activeHoldsData: true,
    failover: null,
    lastFailover: null,
    ...overrides,
  };
}

const firstStart = (): PersistedState => steady({ epoch: 0, activeHoldsData: false });

/** A failover at `step` (A outgoing, B incoming); from 'switched' on, B is the active. */
function during(
  step: FailoverStep,
  options: { switchedAgoMs?: number; record?: Partial<FailoverRecord> } = {},
): PersistedState {
  const switched = step === 'switched';
  const timeline: FailoverRecord['timeline'] = [{ step: 'started', at: iso(NOW - 60_000) }];
  if (step !== 'promoting') timeline.push({ step: 'standby-attached', at: iso(NOW - 50_000) });
  if (step === 'held') {
    timeline.push(
      { step: 'synced', at: iso(NOW - 10_000) },
      { step: 'held', at: iso(NOW - 10_000), detail: 'the synced standby is empty' },
    );
  }
  if (switched) timeline.push({ step: 'switched', at: iso(NOW - (options.switchedAgoMs ?? 100)) });
  return steady({
    epoch: switched ? 8 : 7,
    active: switched ? B : A,
    standby: switched ? A : B,
    failover: {
      id: 'f-1',
      kind: 'unplanned',
      reason: 'the master has been unreachable for 1000 ms (grace 1000 ms)',
      startedAt: iso(NOW - 60_000),
      outgoing: A,
      incoming: B,
      step,
      savedConfig: { 'min-replicas-to-write': '0', 'min-replicas-max-lag': '10' },
      // The engine stamps verifiedAt in the same write that switches the roles.
      verifiedAt: switched ? iso(NOW - (options.switchedAgoMs ?? 100)) : null,
      // The standby verified synced when the switch was held (replica(B)'s run_id).
      ...(step === 'held' ? { syncedRunId: `run-${B}` } : {}),
      timeline,
      ...options.record,
    },
  });
}

// ---- observations ------------------------------------------------------------------------------

function observe(overrides: Partial<Observations>): Observations {
  return {
    now: NOW,
    masterUp: true,
    masterLostSince: undefined,
    fullResyncDemanded: false,
    active: replica(A),
    standby: master(B),
    activeSession: STREAMING,
    standbySession: NO_SESSION,
    operator: undefined,
    refusedConfirm: undefined,
    syncAttemptStartedAt: undefined,
    ...overrides,
  };
}

/** Healthy: A streams through the proxy with its data, B is an idle empty master. */
const healthy = (overrides: Partial<Observations> = {}): Observations => observe(overrides);

/** Failover before the switch: A promoted (a master with its data), B synced from the proxy. */
const promotedAndSynced = (overrides: Partial<Observations> = {}): Observations =>
  observe({
    masterUp: true,
    active: master(A, { keys: 1000 }),
    activeSession: NO_SESSION,
    standby: replica(B, { keys: 990 }),
    standbySession: STREAMING,
    ...overrides,
  });

/** Failover before the switch, B still taking the snapshot. */
const promotedAndSyncing = (overrides: Partial<Observations> = {}): Observations =>
  promotedAndSynced({
    standby: syncing(B),
    standbySession: SNAPSHOT,
    syncAttemptStartedAt: NOW - 5000,
    ...overrides,
  });

/** After the switch: B (the new active) streams, A (outgoing) is a master with its old data. */
const afterSwitch = (overrides: Partial<Observations> = {}): Observations =>
  observe({
    active: replica(B, { keys: 990 }),
    activeSession: STREAMING,
    standby: master(A, { keys: 1000 }),
    standbySession: NO_SESSION,
    ...overrides,
  });

// ---- the table ---------------------------------------------------------------------------------

/** One action in a readable form: `begin-failover(unplanned)`, `prepare-standby(flush)`, … */
function label(action: Action): string {
  switch (action.kind) {
    case 'begin-failover':
      return `begin-failover(${action.failoverKind}${action.promote === false ? ', no promote' : ''})`;
    case 'prepare-standby':
      return `prepare-standby(${action.flush ? 'flush' : 'no flush'})`;
    default:
      return action.kind;
  }
}

interface Row {
  name: string;
  persisted: PersistedState;
  obs: Observations;
  config?: Partial<DecideConfig>;
  state: EngineState;
  actions: string[];
  /** The reason must match (required for every degraded row). */
  reason?: RegExp;
}

const rows: Row[] = [
  // -- steady, the active holds its data ---------------------------------------------------------
  { name: 'healthy', persisted: steady(), obs: healthy(), state: 'healthy', actions: [] },
  {
    name: 'healthy, the idle standby accepts writes: guard it',
    persisted: steady(),
    obs: healthy({ standby: master(B, { writesGuarded: false }) }),
    state: 'healthy',
    actions: ['guard-standby'],
  },
  {
    name: 'healthy, the standby a replica (read-only): nothing to guard',
    persisted: steady(),
    obs: healthy({ standby: replica(B, { followsProxy: false, keys: 0 }) }),
    state: 'healthy',
    actions: [],
  },
  {
    name: 'master lost inside grace, the idle standby accepts writes: guard it',
    persisted: steady(),
    obs: healthy({
      masterUp: false,
      masterLostSince: NOW - 10,
      standby: master(B, { writesGuarded: false }),
    }),
    state: 'master-lost',
    actions: ['guard-standby'],
  },
  {
    name: 'both replicas claim to be masters with data, no failover recorded',
    persisted: steady(),
    obs: healthy({
      active: master(A, { keys: 1000 }),
      activeSession: NO_SESSION,
      standby: master(B, { keys: 800 }),
    }),
    state: 'degraded',
    actions: [],
    reason: /active 10\.0\.0\.5:6379 is a master holding 1000 keys but no failover is recorded/,
  },
  {
    name: 'the active came back as an empty master (restarted without data): fail over, no promote',
    persisted: steady(),
    obs: healthy({ active: master(A, { keys: 0 }), activeSession: NO_SESSION }),
    state: 'failing-over',
    actions: ['begin-failover(unplanned, no promote)'],
    reason: /came back empty/,
  },
  {
    name: 'both masters with data, even with the master lost past grace and a full resync demanded',
    persisted: steady(),
    obs: healthy({
      active: master(A, { keys: 1000 }),
      standby: master(B, { keys: 800 }),
      masterUp: false,
      masterLostSince: NOW - 10_000,
      fullResyncDemanded: true,
      operator: 'failover',
    }),
    state: 'degraded',
    actions: [],
    reason: /no failover is recorded/,
  },
  {
    name: 'the active follows another master',
    persisted: steady(),
    obs: healthy({ active: replica(A, { followsProxy: false }) }),
    state: 'degraded',
    actions: [],
    reason: /replicates from another master/,
  },
  {
    name: 'the active follows another master while a full resync is demanded',
    persisted: steady(),
    obs: healthy({ active: replica(A, { followsProxy: false }), fullResyncDemanded: true }),
    state: 'degraded',
    actions: [],
    reason: /another master/,
  },
  {
    name: 'the active is unreachable',
    persisted: steady(),
    obs: healthy({ active: down(A) }),
    state: 'degraded',
    actions: [],
    reason: /active 10\.0\.0\.5:6379 is unreachable: connect ECONNREFUSED/,
  },
  {
    name: 'the active is unreachable, the master lost past grace: no failover without it',
    persisted: steady(),
    obs: healthy({ active: down(A), masterUp: false, masterLostSince: NOW - 5000 }),
    state: 'degraded',
    actions: [],
    reason: /unreachable/,
  },
  {
    name: 'the standby is unreachable',
    persisted: steady(),
    obs: healthy({ standby: down(B) }),
    state: 'degraded',
    actions: [],
    reason: /standby 10\.0\.0\.6:6379 is unreachable/,
  },
  {
    name: 'full resync demanded while healthy: unplanned failover at once',
    persisted: steady(),
    obs: healthy({ fullResyncDemanded: true }),
    state: 'failing-over',
    actions: ['begin-failover(unplanned)'],
    reason: /full resync/,
  },
  {
    name: 'full resync demanded inside the grace period: failover at once, no waiting',
    persisted: steady(),
    obs: healthy({ masterUp: true, masterLostSince: NOW - 10, fullResyncDemanded: true }),
    state: 'failing-over',
    actions: ['begin-failover(unplanned)'],
    reason: /full resync/,
  },
  {
    name: 'blip inside the grace period: master-lost, nothing done',
    persisted: steady(),
    obs: healthy({ masterUp: false, masterLostSince: NOW - 999 }),
    state: 'master-lost',
    actions: [],
    reason: /999 ms/,
  },
  {
    name: 'grace expired exactly',
    persisted: steady(),
    obs: healthy({ masterUp: false, masterLostSince: NOW - 1000 }),
    state: 'failing-over',
    actions: ['begin-failover(unplanned)'],
    reason: /unreachable for 1000 ms \(grace 1000 ms\)/,
  },
  {
    name: 'grace expired, the standby unreachable: promote anyway (it only detaches the active)',
    persisted: steady(),
    obs: healthy({ masterUp: false, masterLostSince: NOW - 5000, standby: down(B) }),
    state: 'failing-over',
    actions: ['begin-failover(unplanned)'],
  },
  {
    name: 'operator failover while healthy: planned failover',
    persisted: steady(),
    obs: healthy({ operator: 'failover' }),
    state: 'failing-over',
    actions: ['begin-failover(planned)'],
  },
  {
    name: 'operator failover while the master is lost inside grace: ignored',
    persisted: steady(),
    obs: healthy({ masterUp: false, masterLostSince: NOW - 100, operator: 'failover' }),
    state: 'master-lost',
    actions: [],
  },
  {
    name: 'confirm / abort while healthy: ignored',
    persisted: steady(),
    obs: healthy({ operator: 'confirm' }),
    state: 'healthy',
    actions: [],
  },

  // -- first start (the active has no dataset yet) ----------------------------------------------
  {
    name: 'first start: attach the active, the standby is already idle and empty',
    persisted: firstStart(),
    obs: healthy({
      active: master(A),
      activeSession: NO_SESSION,
    }),
    state: 'starting',
    actions: ['attach-active'],
  },
  {
    name: 'first start: the standby already has keys, no --init-flush-standby',
    persisted: firstStart(),
    obs: healthy({ active: master(A), standby: master(B, { keys: 42 }) }),
    state: 'degraded',
    actions: [],
    reason:
      /standby 10\.0\.0\.6:6379 holds 42 keys: refusing to flush it without --init-flush-standby/,
  },
  {
    name: 'first start: the standby already has keys, with --init-flush-standby (the active has data)',
    persisted: firstStart(),
    obs: healthy({
      active: replica(A, { followsProxy: false, masterAddress: '10.0.0.2:6379' }),
      standby: master(B, { keys: 42, writesGuarded: false }),
    }),
    config: { initFlushStandby: true },
    state: 'starting',
    actions: ['prepare-standby(flush)', 'attach-active', 'guard-standby'],
  },
  {
    name: 'first start, --init-flush-standby: both plain masters with data (a reboot and a lost state file?): kept',
    persisted: firstStart(),
    obs: healthy({
      active: master(A, { keys: 2000, writesGuarded: false }),
      standby: master(B, { keys: 2000, writesGuarded: false }),
    }),
    config: { initFlushStandby: true },
    state: 'degraded',
    actions: [],
    reason: /a master too, 2000: either may be the one applications read/,
  },
  {
    name: 'first start, --init-flush-standby: a standby with the only data in sight is kept',
    persisted: firstStart(),
    obs: healthy({ active: master(A), standby: master(B, { keys: 42, writesGuarded: false }) }),
    config: { initFlushStandby: true },
    state: 'degraded',
    actions: [],
    reason: /holds 42 keys and the active 10\.0\.0\.5:6379 none: .*refusing to flush it/,
  },
  {
    name: 'first start, --init-flush-standby: a standby replicating from rbuddy with keys is kept',
    persisted: firstStart(),
    obs: healthy({ active: master(A, { keys: 5 }), standby: replica(B, { keys: 42 }) }),
    config: { initFlushStandby: true },
    state: 'degraded',
    actions: [],
    reason: /replicates from rbuddy: it may be serving reads/,
  },
  {
    name: 'first start, --init-flush-standby: a promoted standby (write guard) with keys is kept',
    persisted: firstStart(),
    obs: healthy({
      active: master(A, { keys: 5 }),
      standby: master(B, { keys: 42, writesGuarded: true }),
    }),
    config: { initFlushStandby: true },
    state: 'degraded',
    actions: [],
    reason: /write guard .*: it may be serving reads/,
  },
  {
    name: 'first start: the standby is a replica (empty): detach it, nothing to flush',
    persisted: firstStart(),
    obs: healthy({ active: master(A), standby: syncing(B, { followsProxy: false }) }),
    config: { initFlushStandby: true },
    state: 'starting',
    actions: ['prepare-standby(no flush)', 'attach-active', 'guard-standby'],
  },
  {
    name: 'first start: the standby idle and empty but accepting writes: guard it',
    persisted: firstStart(),
    obs: healthy({ active: master(A), standby: master(B, { writesGuarded: false }) }),
    state: 'starting',
    actions: ['attach-active', 'guard-standby'],
  },
  {
    name: 'first start: the active synced, the standby accepting writes: guard it last',
    persisted: firstStart(),
    obs: healthy({ standby: master(B, { writesGuarded: false }) }),
    state: 'healthy',
    actions: ['mark-active-holds-data', 'guard-standby'],
  },
  {
    name: 'first start: the standby is a replica with keys, no flag',
    persisted: firstStart(),
    obs: healthy({ active: master(A), standby: replica(B, { followsProxy: false, keys: 5 }) }),
    state: 'degraded',
    actions: [],
    reason: /--init-flush-standby/,
  },
  {
    name: 'first start: both replicas are masters with data, no flag: nothing destroyed',
    persisted: firstStart(),
    obs: healthy({ active: master(A, { keys: 1000 }), standby: master(B, { keys: 800 }) }),
    state: 'degraded',
    actions: [],
    reason: /holds 800 keys/,
  },
  {
    name: 'first start: the active syncs through the proxy',
    persisted: firstStart(),
    obs: healthy({ active: syncing(A), activeSession: SNAPSHOT }),
    state: 'starting',
    actions: [],
    reason: /first start/,
  },
  {
    name: 'first start: INFO says synced but the proxy saw no ACK yet',
    persisted: firstStart(),
    obs: healthy({ activeSession: { phase: 'streaming', streamingAcked: false } }),
    state: 'starting',
    actions: [],
  },
  {
    name: 'first start: the active synced (proxy view and INFO)',
    persisted: firstStart(),
    obs: healthy(),
    state: 'healthy',
    actions: ['mark-active-holds-data'],
  },
  {
    name: 'first start: the standby unreachable',
    persisted: firstStart(),
    obs: healthy({ standby: down(B) }),
    state: 'degraded',
    actions: [],
    reason: /standby .* is unreachable/,
  },
  {
    name: 'first start: the active unreachable',
    persisted: firstStart(),
    obs: healthy({ active: down(A) }),
    state: 'degraded',
    actions: [],
    reason: /active .* is unreachable/,
  },
  {
    name: 'first start: master lost and full resync demanded: no failover (nothing to protect)',
    persisted: firstStart(),
    obs: healthy({
      active: syncing(A),
      activeSession: SNAPSHOT,
      masterUp: false,
      masterLostSince: NOW - 10_000,
      fullResyncDemanded: true,
      operator: 'failover',
    }),
    state: 'starting',
    actions: [],
  },

  // -- promoting ---------------------------------------------------------------------------------
  {
    name: 'promoting: promote the active and attach the standby',
    persisted: during('promoting'),
    obs: healthy({ masterUp: false, masterLostSince: NOW - 2000 }),
    state: 'failing-over',
    actions: ['promote', 'attach-standby'],
  },
  {
    name: 'promoting, the master returns mid-promotion: carry on, no second failover',
    persisted: during('promoting'),
    obs: healthy({ masterUp: true, masterLostSince: undefined, fullResyncDemanded: true }),
    state: 'failing-over',
    actions: ['promote', 'attach-standby'],
  },
  {
    name: 'promoting after a restart, the active already promoted: promote again (idempotent)',
    persisted: during('promoting'),
    obs: healthy({ active: master(A, { keys: 1000 }), activeSession: NO_SESSION }),
    state: 'failing-over',
    actions: ['promote', 'attach-standby'],
  },
  {
    name: 'promoting, the active unreachable: wait',
    persisted: during('promoting'),
    obs: healthy({ active: down(A) }),
    state: 'failing-over',
    actions: [],
    reason: /cannot promote/,
  },

  // -- syncing -----------------------------------------------------------------------------------
  {
    name: 'syncing, the standby unreachable: wait',
    persisted: during('syncing'),
    obs: promotedAndSyncing({ standby: down(B), standbySession: NO_SESSION }),
    state: 'failing-over',
    actions: [],
    reason: /waiting for the standby/,
  },
  {
    name: 'syncing, the standby not following (still an idle master): attach it',
    persisted: during('syncing'),
    obs: promotedAndSyncing({ standby: master(B), standbySession: NO_SESSION }),
    state: 'failing-over',
    actions: ['attach-standby'],
  },
  {
    name: 'syncing, the standby follows another master: attach it',
    persisted: during('syncing'),
    obs: promotedAndSyncing({ standby: replica(B, { followsProxy: false }) }),
    state: 'failing-over',
    actions: ['attach-standby'],
  },
  {
    name: 'syncing, the master still away',
    persisted: during('syncing'),
    obs: promotedAndSyncing({
      masterUp: false,
      standby: replica(B, { linkUp: false, keys: 0 }),
      standbySession: { phase: 'handshake', streamingAcked: false },
    }),
    state: 'failing-over',
    actions: [],
    reason: /waiting for the master/,
  },
  {
    name: 'syncing, the snapshot on its way',
    persisted: during('syncing'),
    obs: promotedAndSyncing(),
    state: 'failing-over',
    actions: [],
    reason: /syncing/,
  },
  {
    name: 'syncing, INFO says loading (the proxy already relayed it all)',
    persisted: during('syncing'),
    obs: promotedAndSyncing({ standby: replica(B, { loading: true }), standbySession: STREAMING }),
    state: 'failing-over',
    actions: [],
  },
  {
    name: 'syncing, master flapping (lost again, full resync demanded): no second failover',
    persisted: during('syncing'),
    obs: promotedAndSyncing({
      masterUp: false,
      masterLostSince: NOW - 60_000,
      fullResyncDemanded: true,
      operator: 'failover',
    }),
    state: 'failing-over',
    actions: [],
  },
  {
    name: 'syncing, the sync timed out: start it over',
    persisted: during('syncing'),
    obs: promotedAndSyncing({ syncAttemptStartedAt: NOW - 60_001 }),
    state: 'failing-over',
    actions: ['restart-standby-sync'],
    reason: /timed out/,
  },
  {
    name: 'syncing, at the sync timeout exactly: not yet',
    persisted: during('syncing'),
    obs: promotedAndSyncing({ syncAttemptStartedAt: NOW - 60_000 }),
    state: 'failing-over',
    actions: [],
  },
  {
    name: 'syncing, synced with data: switch',
    persisted: during('syncing'),
    obs: promotedAndSynced(),
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, synced but the proxy saw no ACK since streaming: not yet',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standbySession: { phase: 'streaming', streamingAcked: false } }),
    state: 'failing-over',
    actions: [],
  },
  {
    name: 'syncing, synced but empty while the active has keys, --guard-empty hold',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }) }),
    state: 'held',
    actions: ['hold'],
    reason: /the active holds 1000 keys/,
  },
  {
    name: 'syncing, synced but empty while the active has keys, --guard-empty switch',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }) }),
    config: { guardEmpty: 'switch' },
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, synced and empty, the active empty too: nothing to lose, switch',
    persisted: during('syncing'),
    obs: promotedAndSynced({ active: master(A, { keys: 0 }), standby: replica(B, { keys: 0 }) }),
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, synced with fewer keys than --guard-shrink of the active’s: hold, naming both counts',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 100 }) }),
    state: 'held',
    actions: ['hold'],
    reason:
      /the synced standby holds 100 keys, fewer than 0\.5 of the active's 1000 \(--guard-shrink\)/,
  },
  {
    name: 'syncing, exactly --guard-shrink of the active’s keys: switch',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 500 }) }),
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, one key short of --guard-shrink 1: hold',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 999 }) }),
    config: { guardShrink: 1 },
    state: 'held',
    actions: ['hold'],
    reason: /999 keys, fewer than 1 of the active's 1000/,
  },
  {
    name: 'syncing, a fraction of the keys, --guard-shrink 0 (off): switch',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 1 }) }),
    config: { guardShrink: 0 },
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, empty, --guard-empty switch: switch (the shrink guard leaves empty to it)',
    persisted: during('syncing'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }) }),
    config: { guardEmpty: 'switch', guardShrink: 1 },
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, some keys, the active unreachable (its count unknown): switch',
    persisted: during('syncing'),
    obs: promotedAndSynced({ active: down(A), standby: replica(B, { keys: 1 }) }),
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'syncing, synced but empty, the active unreachable (its keys unknown), hold: hold',
    persisted: during('syncing'),
    obs: promotedAndSynced({ active: down(A), standby: replica(B, { keys: 0 }) }),
    state: 'held',
    actions: ['hold'],
  },

  // -- held --------------------------------------------------------------------------------------
  {
    name: 'held: waiting for an operator',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }) }),
    state: 'held',
    actions: [],
    reason: /confirm or \/abort/,
  },
  {
    name: 'held, the master flapping: no second failover',
    persisted: during('held'),
    obs: promotedAndSynced({
      masterUp: false,
      masterLostSince: NOW - 60_000,
      fullResyncDemanded: true,
    }),
    state: 'held',
    actions: [],
  },
  {
    name: 'held + confirm: switch',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }), operator: 'confirm' }),
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'held + abort: back to the active, nothing flushed',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }), operator: 'abort' }),
    state: 'degraded',
    actions: ['abort', 'guard-standby'],
    reason: /aborted/,
  },
  {
    name: 'held, the standby restarted (another run_id, an empty master): back to waiting for its sync',
    persisted: during('held'),
    obs: promotedAndSynced({
      standby: master(B, { runId: 'run-restarted', writesGuarded: false }),
      standbySession: NO_SESSION,
    }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /restarted since it synced \(run_id run-restarted, not run-10\.0\.0\.6:6379\)/,
  },
  {
    name: 'held, the standby restarted and synced again: another process, verified again first',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0, runId: 'run-restarted' }) }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /restarted since it synced/,
  },
  {
    name: 'held, the standby taking a new sync: back to waiting for it',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: syncing(B), standbySession: SNAPSHOT }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /taking a new sync/,
  },
  {
    name: 'held, the standby detached (same process): back to waiting for its sync',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: master(B), standbySession: NO_SESSION }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /does not replicate through rbuddy/,
  },
  {
    name: 'held, a record without the run_id that synced (an older rbuddy): verified again',
    persisted: during('held', { record: { syncedRunId: null } }),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }) }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /run_id .* is not recorded/,
  },
  {
    name: 'held, no live session yet (rbuddy restarted): still held, a confirm would be refused',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: replica(B, { keys: 0 }), standbySession: NO_SESSION }),
    state: 'held',
    actions: [],
    reason: /confirm is refused: rbuddy has not seen 10\.0\.0\.6:6379 stream and ACK/,
  },
  {
    name: 'held, the standby unreachable: still held',
    persisted: during('held'),
    obs: promotedAndSynced({ standby: down(B), standbySession: NO_SESSION }),
    state: 'held',
    actions: [],
    reason: /standby 10\.0\.0\.6:6379 is unreachable/,
  },
  {
    name: 'held + confirm, the standby restarted: refused, back to waiting for its sync',
    persisted: during('held'),
    obs: promotedAndSynced({
      standby: master(B, { runId: 'run-restarted' }),
      standbySession: NO_SESSION,
      operator: 'confirm',
    }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /^confirm refused: the standby 10\.0\.0\.6:6379 restarted since it synced/,
  },
  {
    name: 'held + confirm, its link to the master down: refused, back to waiting for its sync',
    persisted: during('held'),
    obs: promotedAndSynced({
      standby: replica(B, { keys: 0, linkUp: false }),
      operator: 'confirm',
    }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /^confirm refused: .*link to the master is down/,
  },
  {
    name: 'held + confirm, no ACK seen on a live session: refused',
    persisted: during('held'),
    obs: promotedAndSynced({
      standby: replica(B, { keys: 0 }),
      standbySession: { phase: 'streaming', streamingAcked: false },
      operator: 'confirm',
    }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /^confirm refused: rbuddy has not seen/,
  },
  {
    name: 'held, a confirm the admin API refused: back to waiting for the sync, even if verified now',
    persisted: during('held'),
    obs: promotedAndSynced({
      standby: replica(B, { keys: 0 }),
      refusedConfirm: 'the standby was not observed yet',
    }),
    state: 'failing-over',
    actions: ['resume-sync'],
    reason: /^confirm refused: the standby was not observed yet/,
  },
  {
    name: 'held + abort, the standby restarted: abort all the same',
    persisted: during('held'),
    obs: promotedAndSynced({
      standby: master(B, { runId: 'run-restarted' }),
      standbySession: NO_SESSION,
      operator: 'abort',
    }),
    state: 'degraded',
    actions: ['abort', 'guard-standby'],
    reason: /aborted/,
  },
  {
    name: 'held + failover request: ignored',
    persisted: during('held'),
    obs: promotedAndSynced({ operator: 'failover' }),
    state: 'held',
    actions: [],
  },

  // -- switched ----------------------------------------------------------------------------------
  {
    name: 'switched, drain not elapsed: wait',
    persisted: during('switched', { switchedAgoMs: 499 }),
    obs: afterSwitch(),
    state: 'switching',
    actions: [],
    reason: /draining/,
  },
  {
    name: 'switched, drain elapsed: retire the outgoing node',
    persisted: during('switched', { switchedAgoMs: 500 }),
    obs: afterSwitch(),
    state: 'healthy',
    actions: ['retire-outgoing'],
  },
  {
    name: 'switched, the outgoing node unreachable: no retire',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({ standby: down(A) }),
    state: 'switching',
    actions: [],
    reason: /cannot retire: old active 10\.0\.0\.5:6379 is unreachable/,
  },
  {
    name: 'switched, the new active unreachable: keep the old one’s data, no retire',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({ active: down(B), activeSession: NO_SESSION }),
    state: 'switching',
    actions: [],
    reason: /new active 10\.0\.0\.6:6379 is unreachable/,
  },
  {
    name: 'switched, the master flapping: retire, no second failover',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({
      masterUp: false,
      masterLostSince: NOW - 60_000,
      fullResyncDemanded: true,
      operator: 'failover',
    }),
    state: 'healthy',
    actions: ['retire-outgoing'],
  },

  // -- one server under both names ----------------------------------------------------------------
  {
    name: 'the two nodes report one run_id: degraded, nothing done',
    persisted: steady(),
    obs: healthy({ masterLostSince: NOW - 60_000, standby: master(B, { runId: `run-${A}` }) }),
    state: 'degraded',
    actions: [],
    reason: /report the same run_id run-10\.0\.0\.5:6379/,
  },
  {
    name: 'one run_id after a switch: no retire (it would flush the active itself)',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({ standby: master(A, { keys: 1000, runId: `run-${B}` }) }),
    state: 'degraded',
    actions: [],
    reason: /same run_id/,
  },
  {
    name: 'one run_id on a first start, --init-flush-standby: nothing flushed',
    persisted: firstStart(),
    obs: healthy({
      active: master(A, { keys: 5 }),
      standby: master(B, { keys: 5, runId: `run-${A}` }),
    }),
    config: { initFlushStandby: true },
    state: 'degraded',
    actions: [],
    reason: /same run_id/,
  },

  // -- aborted -----------------------------------------------------------------------------------
  {
    name: 'aborted: degraded until an operator tries again',
    persisted: during('aborted'),
    obs: promotedAndSynced({ standby: master(B), standbySession: NO_SESSION }),
    state: 'degraded',
    actions: [],
    reason: /aborted by an operator/,
  },
  {
    name: 'a promoted active adopted with no state file: degraded, saying so',
    persisted: during('aborted', {
      record: {
        timeline: [
          { step: 'adopted', at: iso(NOW), detail: 'no state file, but the nodes show A serving' },
        ],
      },
    }),
    obs: promotedAndSynced({ standby: master(B), standbySession: NO_SESSION }),
    state: 'degraded',
    actions: [],
    reason: /^no state file, but the nodes show A serving: .*POST \/v1\/failover/,
  },
  {
    name: 'aborted, the master flapping: no new failover on its own',
    persisted: during('aborted'),
    obs: promotedAndSynced({
      standby: master(B),
      masterUp: false,
      masterLostSince: NOW - 60_000,
      fullResyncDemanded: true,
    }),
    state: 'degraded',
    actions: [],
    reason: /aborted/,
  },
  {
    name: 'aborted, the detached standby accepts writes (restarted, say): guard it',
    persisted: during('aborted'),
    obs: promotedAndSynced({
      standby: master(B, { writesGuarded: false }),
      standbySession: NO_SESSION,
    }),
    state: 'degraded',
    actions: ['guard-standby'],
    reason: /aborted/,
  },
  {
    name: 'aborted + operator failover: attach the standby again',
    persisted: during('aborted'),
    obs: promotedAndSynced({ standby: master(B), operator: 'failover' }),
    state: 'failing-over',
    actions: ['attach-standby'],
  },
];

describe('decide(): state × observation table', () => {
  for (const row of rows) {
    test(row.name, () => {
      const result = decide(row.persisted, row.obs, { ...CONFIG, ...row.config });
      assert.equal(result.state, row.state, `state (reason: ${result.reason ?? 'none'})`);
      assert.deepEqual(result.actions.map(label), row.actions);
      if (row.reason !== undefined) assert.match(result.reason ?? '', row.reason);
      if (row.state === 'degraded') assert.ok(row.reason !== undefined, 'degraded rows check why');
    });
  }

  test('hold carries the reason, the run_id that synced and both key counts', () => {
    const shrunk = decide(
      during('syncing'),
      promotedAndSynced({ standby: replica(B, { keys: 100 }) }),
      CONFIG,
    );
    assert.deepEqual(shrunk.actions, [
      {
        kind: 'hold',
        reason:
          "the synced standby holds 100 keys, fewer than 0.5 of the active's 1000 (--guard-shrink)",
        syncedRunId: `run-${B}`,
        activeKeys: 1000,
        standbyKeys: 100,
      },
    ]);
    const unknown = decide(
      during('syncing'),
      promotedAndSynced({ active: down(A), standby: replica(B, { keys: 0 }) }),
      CONFIG,
    );
    assert.deepEqual(
      unknown.actions.map((action) => action.kind === 'hold' && action.activeKeys),
      [null],
    );
  });

  test('begin-failover carries its reason; planned only on an operator request', () => {
    const lost = decide(
      steady(),
      healthy({ masterUp: false, masterLostSince: NOW - 4000 }),
      CONFIG,
    );
    assert.deepEqual(lost.actions, [
      {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason: 'the master has been unreachable for 4000 ms (grace 1000 ms)',
      },
    ]);
    const demanded = decide(steady(), healthy({ fullResyncDemanded: true }), CONFIG);
    assert.deepEqual(demanded.actions, [
      {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason: 'the master demanded a full resync of the active',
      },
    ]);
  });

  test('every step of the persisted record has rows, and every engine state is reached', () => {
    const steps = new Set(rows.map((row) => row.persisted.failover?.step ?? 'none'));
    assert.deepEqual(
      [...steps].sort(),
      ['aborted', 'held', 'none', 'promoting', 'switched', 'syncing'].sort(),
    );
    const states = new Set(rows.map((row) => row.state));
    assert.deepEqual([...states].sort(), [...ENGINE_STATES].sort());
  });
});

// ---- properties over random observations ---------------------------------------------------------

const PHASES: (SessionPhase | undefined)[] = [
  undefined,
  'handshake',
  'waiting-snapshot',
  'snapshot',
  'streaming',
  'closed',
];

function nodeView(id: string): fc.Arbitrary<NodeView> {
  return (
    fc
      .record({
        reachable: fc.boolean(),
        role: fc.constantFrom<NodeView['role'][]>('master', 'slave', undefined),
        followsProxy: fc.boolean(),
        linkUp: fc.boolean(),
        syncInProgress: fc.boolean(),
        loading: fc.boolean(),
        keys: fc.constantFrom(0, 1, 3000, 5000),
        writesGuarded: fc.boolean(),
        // Now and then both names reach one server.
        runId: fc.constantFrom(`run-${id}`, 'run-one-server'),
      })
      // As nodeViewFromInfo builds them: only a replica follows the proxy or has a link.
      .map((fields) =>
        fields.reachable
          ? replica(id, {
              ...fields,
              masterAddress: fields.role === 'slave' ? PROXY : undefined,
              followsProxy: fields.role === 'slave' && fields.followsProxy,
              linkUp: fields.role === 'slave' && fields.linkUp,
              writesGuarded: fields.role === 'master' && fields.writesGuarded,
            })
          : down(id),
      )
  );
}

const sessionView: fc.Arbitrary<SessionView> = fc.record({
  phase: fc.constantFrom(...PHASES),
  streamingAcked: fc.boolean(),
});

const persistedState: fc.Arbitrary<PersistedState> = fc
  .record({
    step: fc.constantFrom<(FailoverStep | null)[]>(
      null,
      'promoting',
      'syncing',
      'held',
      'switched',
      'aborted',
    ),
    activeHoldsData: fc.boolean(),
    switchedAgoMs: fc.integer({ min: 0, max: 3000 }),
  })
  .map(({ step, activeHoldsData, switchedAgoMs }) => ({
    ...(step === null ? steady() : during(step, { switchedAgoMs })),
    activeHoldsData: step === null ? activeHoldsData : true,
  }));

const observations = (persisted: PersistedState): fc.Arbitrary<Observations> =>
  fc
    .record({
      masterUp: fc.boolean(),
      lostFor: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
      fullResyncDemanded: fc.boolean(),
      active: nodeView(persisted.active),
      standby: nodeView(persisted.standby),
      activeSession: sessionView,
      standbySession: sessionView,
      operator: fc.constantFrom<(OperatorRequest | undefined)[]>(
        undefined,
        'failover',
        'confirm',
        'abort',
      ),
      syncFor: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
      refusedConfirm: fc.option(fc.constant('the standby restarted'), { nil: undefined }),
    })
    .map(({ lostFor, syncFor, ...rest }) => ({
      ...rest,
      now: NOW,
      masterLostSince: lostFor === undefined ? undefined : NOW - lostFor,
      syncAttemptStartedAt: syncFor === undefined ? undefined : NOW - syncFor,
    }));

const decideConfig: fc.Arbitrary<DecideConfig> = fc.record({
  graceMs: fc.integer({ min: 0, max: 3000 }),
  drainMs: fc.integer({ min: 0, max: 3000 }),
  syncTimeoutMs: fc.integer({ min: 1000, max: 100_000 }),
  guardEmpty: fc.constantFrom<('hold' | 'switch')[]>('hold', 'switch'),
  guardShrink: fc.constantFrom(0, 0.5, 1),
  initFlushStandby: fc.boolean(),
});

const scenario = persistedState.chain((persisted) =>
  fc.record({
    persisted: fc.constant(persisted),
    obs: observations(persisted),
    config: decideConfig,
  }),
);

// Every assert.ok below carries a message: without one, Node rebuilds the message by parsing the
// call site's source, which under tsx can spin for minutes on a failing case.
describe('decide(): properties over random observations', () => {
  test('destructive and role-changing actions only come from the steps that allow them', () => {
    fc.assert(
      fc.property(scenario, ({ persisted, obs, config }) => {
        const { state, reason, actions } = decide(persisted, obs, config);
        const step = persisted.failover?.step;
        const kinds = actions.map((action) => action.kind);

        assert.ok(ENGINE_STATES.includes(state), `unknown state ${state}`);
        assert.equal(new Set(kinds).size, kinds.length, 'no action twice in one plan');
        if (kinds.includes('guard-standby')) {
          // Last, since it reads what the actions before it wrote; only for an idle standby.
          assert.equal(kinds.at(-1), 'guard-standby', 'guard-standby comes last');
          assert.ok(obs.standby.reachable, 'guard-standby: the standby in sight');
          assert.ok(
            step === undefined || step === 'aborted' || (step === 'held' && kinds[0] === 'abort'),
            `guard-standby at ${step ?? 'no failover'}`,
          );
        }
        if (state === 'degraded')
          assert.ok(reason !== undefined && reason !== '', 'degraded says why');
        if (obs.active.reachable && obs.standby.reachable && obs.active.runId === obs.standby.runId)
          assert.ok(state === 'degraded' && actions.length === 0, 'one server: nothing done');

        for (const action of actions) {
          switch (action.kind) {
            case 'retire-outgoing':
              // I2: flush only the outgoing node of a switched failover, both nodes in sight.
              assert.equal(step, 'switched');
              assert.ok(
                obs.standby.reachable && obs.active.reachable,
                'retire: both nodes in sight',
              );
              break;
            case 'begin-failover':
              // Never a second failover while one is recorded; never without data to protect.
              assert.equal(persisted.failover, null);
              assert.ok(persisted.activeHoldsData, 'begin-failover: the active holds data');
              assert.ok(obs.active.reachable, 'begin-failover: the active is reachable');
              if (action.promote === false) {
                // Only an active that already lost its dataset skips the promotion.
                assert.ok(
                  obs.active.role === 'master' && obs.active.keys === 0,
                  'no promote: empty master',
                );
                break;
              }
              assert.ok(
                obs.active.role === 'slave' && obs.active.followsProxy,
                'promote: a proxy replica',
              );
              if (action.failoverKind === 'planned') {
                // An operator's planned switch, only while the master is fine.
                assert.equal(obs.operator, 'failover');
                assert.ok(
                  !obs.fullResyncDemanded && obs.masterLostSince === undefined,
                  'planned: master fine',
                );
              } else {
                assert.ok(
                  obs.fullResyncDemanded ||
                    (obs.masterLostSince !== undefined &&
                      obs.now - obs.masterLostSince >= config.graceMs),
                  'unplanned: full resync demanded or grace expired',
                );
              }
              break;
            case 'prepare-standby':
              assert.equal(persisted.failover, null);
              assert.equal(persisted.activeHoldsData, false);
              if (action.flush) {
                assert.ok(config.initFlushStandby && obs.standby.keys > 0, 'flush: told to');
                // Never what may be serving reads, never the only copy.
                assert.ok(
                  !obs.standby.followsProxy && !obs.standby.writesGuarded && obs.active.keys > 0,
                  'flush: not serving, not the only data',
                );
              }
              break;
            case 'attach-active':
            case 'mark-active-holds-data':
              assert.equal(persisted.failover, null);
              assert.equal(persisted.activeHoldsData, false);
              break;
            case 'promote':
              assert.equal(step, 'promoting');
              break;
            case 'attach-standby':
              assert.ok(
                step === 'promoting' || step === 'syncing' || step === 'aborted',
                `attach-standby at ${step ?? 'no failover'}`,
              );
              if (step === 'aborted') assert.equal(obs.operator, 'failover');
              break;
            case 'restart-standby-sync':
              assert.equal(step, 'syncing');
              break;
            case 'hold':
              assert.equal(step, 'syncing');
              assert.ok(isSynced(obs.standby, obs.standbySession), 'hold: verified synced');
              // Empty (--guard-empty hold), or fewer keys than --guard-shrink of the active's.
              assert.ok(
                obs.standby.keys === 0
                  ? config.guardEmpty === 'hold'
                  : obs.active.reachable && obs.standby.keys < config.guardShrink * obs.active.keys,
                'hold: a data-loss guard applies',
              );
              assert.equal(action.syncedRunId, obs.standby.runId, 'hold: the run_id that synced');
              assert.equal(action.standbyKeys, obs.standby.keys);
              assert.equal(action.activeKeys, obs.active.reachable ? obs.active.keys : null);
              break;
            case 'resume-sync':
              assert.equal(step, 'held');
              break;
            case 'switch':
              // Only a verified standby, or an operator's explicit confirmation of a held one.
              assert.ok(
                (step === 'syncing' && isSynced(obs.standby, obs.standbySession)) ||
                  (step === 'held' &&
                    obs.operator === 'confirm' &&
                    obs.refusedConfirm === undefined &&
                    persisted.failover !== null &&
                    heldStandbyProblem(persisted.failover, obs.standby, obs.standbySession) ===
                      undefined),
                'switch: verified synced, or confirmed and the same process verified again',
              );
              if (step === 'syncing' && obs.standby.keys === 0 && config.guardEmpty === 'hold') {
                assert.ok(obs.active.reachable && obs.active.keys === 0, 'empty guard');
              }
              if (step === 'syncing' && obs.standby.keys > 0 && obs.active.reachable) {
                assert.ok(obs.standby.keys >= config.guardShrink * obs.active.keys, 'shrink guard');
              }
              break;
            case 'abort':
              assert.equal(step, 'held');
              assert.equal(obs.operator, 'abort');
              break;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('decide is pure: the same inputs give the same plan, inputs untouched', () => {
    fc.assert(
      fc.property(scenario, ({ persisted, obs, config }) => {
        const before = JSON.stringify({ persisted, obs, config });
        const first = decide(persisted, obs, config);
        const second = decide(persisted, obs, config);
        assert.deepEqual(first, second);
        assert.equal(JSON.stringify({ persisted, obs, config }), before);
      }),
      { numRuns: 500 },
    );
  });
});
