// What the decide() table is built from (test/unit/failover-decide-*.test.ts): two nodes A and B, a
// fixed clock, persisted states (steady, a first start, a failover at any step), the observations
// of the usual situations, and the runner that turns a table's rows into tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decide,
  type Action,
  type DecideConfig,
  type Observations,
} from '../../src/standby/decide.js';
import type { SessionView } from '../../src/standby/node-view.js';
import type {
  FailoverRecord,
  FailoverStep,
  PersistedState,
} from '../../src/standby/persisted-state.js';
import { type EngineState } from '../../src/standby/states.js';
import { held, master, replica, syncing } from './node-views.js';

export const A = '10.0.0.5:6379';
export const B = '10.0.0.6:6379';
export const NOW = Date.parse('2026-03-01T12:00:00.000Z');
export const iso = (ms: number): string => new Date(ms).toISOString();

export const CONFIG: DecideConfig = {
  graceMs: 1000,
  drainMs: 500,
  syncTimeoutMs: 60_000,
  guardEmpty: 'hold',
  guardShrink: 0.5,
  initFlushStandby: false,
};

// ---- node and session views --------------------------------------------------------------------

export const STREAMING: SessionView = { phase: 'streaming', streamingAcked: true };
export const SNAPSHOT: SessionView = { phase: 'snapshot', streamingAcked: false };
export const NO_SESSION: SessionView = { phase: undefined, streamingAcked: false };

// ---- persisted states --------------------------------------------------------------------------

export function steady(overrides: Partial<PersistedState> = {}): PersistedState {
  return {
    version: 1,
    epoch: 7,
    active: A,
    standby: B,
    activeHoldsData: true,
    // The standby's own settings, saved when it was first held.
    standbySavedConfig: {
      'min-replicas-to-write': '0',
      'min-replicas-max-lag': '10',
      'replica-serve-stale-data': 'yes',
    },
    // The active as rbuddy saw it replicate (replica(A)'s run_id).
    activeRunId: `run-${A}`,
    failover: null,
    lastFailover: null,
    ...overrides,
  };
}

export const firstStart = (): PersistedState => steady({ epoch: 0, activeHoldsData: false });

/** A failover at `step` (A outgoing, B incoming); from 'switched' on, B is the active. */
export function during(
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
      // The switch records the process and the keys verified (afterSwitch()'s B).
      ...(switched ? { syncedRunId: `run-${B}`, syncedKeys: 990 } : {}),
      timeline,
      ...options.record,
    },
  });
}

// ---- observations ------------------------------------------------------------------------------

export function observe(overrides: Partial<Observations>): Observations {
  return {
    now: NOW,
    masterUp: true,
    masterLostSince: undefined,
    fullResyncDemanded: false,
    active: replica(A),
    standby: held(B),
    activeSession: STREAMING,
    standbySession: NO_SESSION,
    operator: undefined,
    refusedConfirm: undefined,
    syncAttemptStartedAt: undefined,
    // The process has been acting for an hour: only the switch time counts for a drain.
    startedAt: NOW - 3_600_000,
    activeHeldInMemory: false,
    ...overrides,
  };
}

/** Healthy: A streams through the proxy with its data, B is the held idle standby. */
export const healthy = (overrides: Partial<Observations> = {}): Observations => observe(overrides);

/** Failover before the switch: A promoted (a master with its data), B synced from the proxy. */
export const promotedAndSynced = (overrides: Partial<Observations> = {}): Observations =>
  observe({
    masterUp: true,
    active: master(A, { keys: 1000 }),
    activeSession: NO_SESSION,
    standby: replica(B, { keys: 990 }),
    standbySession: STREAMING,
    ...overrides,
  });

/** Failover before the switch, B still taking the snapshot. */
export const promotedAndSyncing = (overrides: Partial<Observations> = {}): Observations =>
  promotedAndSynced({
    standby: syncing(B),
    standbySession: SNAPSHOT,
    syncAttemptStartedAt: NOW - 5000,
    ...overrides,
  });

/** After the switch: B (the new active) streams, A (outgoing) is a master with its old data. */
export const afterSwitch = (overrides: Partial<Observations> = {}): Observations =>
  observe({
    active: replica(B, { keys: 990 }),
    activeSession: STREAMING,
    standby: master(A, { keys: 1000 }),
    standbySession: NO_SESSION,
    ...overrides,
  });

/**
 * The nodes after a switch the persisted state does not know of (a backup restored): A, which
 * the state calls the active, was retired (empty, held); B, its idle standby, holds the data
 * and replicates from the proxy (its sync held meanwhile, link down).
 */
export const rolledBackNodes = (overrides: Partial<Observations> = {}): Observations =>
  observe({
    active: held(A),
    activeSession: NO_SESSION,
    standby: replica(B, { linkUp: false }),
    standbySession: NO_SESSION,
    ...overrides,
  });

// ---- the table ---------------------------------------------------------------------------------

/** One action in a readable form: `begin-failover(unplanned)`, … */
export function label(action: Action): string {
  switch (action.kind) {
    case 'begin-failover':
      return `begin-failover(${action.failoverKind}${action.promote === false ? ', no promote' : ''}${action.activeHeld === true ? ', held' : ''})`;
    case 'adopt-nodes-roles':
      return `adopt-nodes-roles${action.promoted ? '(promoted)' : ''}`;
    default:
      return action.kind;
  }
}

export interface Row {
  name: string;
  persisted: PersistedState;
  obs: Observations;
  config?: Partial<DecideConfig>;
  state: EngineState;
  actions: string[];
  /** The reason must match (required for every degraded row). */
  reason?: RegExp;
}

/** The table's rows as tests: the state, the exact actions, and why for every degraded row. */
export function tableTests(rows: readonly Row[]): void {
  for (const row of rows) {
    test(row.name, () => {
      const result = decide(row.persisted, row.obs, { ...CONFIG, ...row.config });
      assert.equal(result.state, row.state, `state (reason: ${result.reason ?? 'none'})`);
      assert.deepEqual(result.actions.map(label), row.actions);
      if (row.reason !== undefined) assert.match(result.reason ?? '', row.reason);
      if (row.state === 'degraded') assert.ok(row.reason !== undefined, 'degraded rows check why');
    });
  }
}
