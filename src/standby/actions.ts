// The failover actions: what each of decide()'s Actions does to the replicas, and what it changed.
// An action never writes the state nor sends an event itself: it returns an Outcome (the next
// persisted state, the events that announce it) and the engine commits it — persists, then
// announces (I3, docs/design.md, "Persist, then announce"). An action that must have a state on
// disk before a later command of its own asks the engine to commit that part first (`commit`).
import { randomUUID } from 'node:crypto';
import type { Action, ActionContext, Announcement, Outcome } from './action-types.js';
import { STALE_DATA_SETTING } from './node-ops.js';
import { backEmpty, isHeldStandby, type NodeView } from './node-view.js';
import { originalSettings, saveStandbySettings } from './own-settings.js';
import { adoptionOutcome } from './rolled-back-state.js';
import { newActiveLost } from './verification.js';
import {
  ACTIVE_HELD,
  type FailoverRecord,
  type PersistedState,
  type TimelineEntry,
} from './persisted-state.js';

export type { ActionContext, Announcement, Outcome } from './action-types.js';

export async function runAction(action: Action, c: ActionContext): Promise<Outcome> {
  c.log.info({ action: action.kind }, 'failover action');
  switch (action.kind) {
    case 'attach-active':
      await c.ops.attach(c.activeNode);
      return {};
    case 'prepare-standby':
      return prepareStandby(c);
    case 'mark-active-holds-data':
      return {
        // The gate must protect the dataset from this moment, not from when the write lands.
        markActiveHoldsData: true,
        note: {
          level: 'info',
          fields: { active: c.activeNode.id },
          message: 'the active replica holds its dataset',
        },
      };
    case 'begin-failover':
      return beginFailover(c, action);
    case 'promote':
      return promote(c);
    case 'hold-active':
      return holdActive(c);
    case 'hold-standby':
      return holdStandby(c);
    case 'attach-standby':
      return attachStandby(c);
    case 'restart-standby-sync':
      // Reported before the commands that start the sync over, and again at each retry of them.
      await c.commit({ announce: [failed(`${action.reason}; retrying`)] });
      await c.ops.detach(c.standbyNode);
      await c.ops.attach(c.standbyNode);
      return { syncAttemptStarted: true };
    case 'hold':
      return {
        state: failoverChanged(
          c,
          { step: 'held', syncedRunId: action.syncedRunId ?? null },
          { step: 'synced' },
          { step: 'held', detail: action.reason },
        ),
        announce: [
          { type: 'standby.synced', data: {} },
          {
            type: 'failover.held',
            data: {
              reason: action.reason,
              activeKeys: action.activeKeys,
              standbyKeys: action.standbyKeys,
            },
          },
        ],
      };
    case 'resume-sync':
      return {
        state: failoverChanged(
          c,
          { step: 'syncing', syncedRunId: null },
          { step: 'resync', detail: action.reason },
        ),
        syncAttemptStarted: true,
        standbyFailureCleared: true,
        announce: [failed(`${action.reason}; waiting for the standby's sync again`)],
      };
    case 'switch':
      return switchRoles(c, action);
    case 'switch-back':
      return switchBack(c, action.reason);
    case 'note-active-run-id':
      return { state: { ...c.persisted, activeRunId: action.runId } };
    case 'retire-outgoing':
      return retireOutgoing(c);
    case 'adopt-nodes-roles':
      return adoptionOutcome(c.persisted, action, new Date(c.now()).toISOString(), randomUUID());
    case 'abort': {
      // The standby is made the idle standby again by hold-standby, planned right after: not
      // detached, which would leave a master answering reads from a copy nobody keeps up.
      const record = requireFailover(c.persisted);
      return {
        state: {
          ...c.persisted,
          failover: { ...record, step: 'aborted', timeline: stamp(c, record, 'aborted') },
        },
        announce: [failed('aborted by an operator')],
      };
    }
  }
}

/** First start, --init-flush-standby: the standby's keys go, and it is the idle standby. */
async function prepareStandby(c: ActionContext): Promise<Outcome> {
  const saved = await saveStandbySettings(c);
  c.log.warn({ node: c.standbyNode.id }, 'flushing the standby (--init-flush-standby)');
  // A replica refuses FLUSHALL (-READONLY): detached first (REPLICAOF NO ONE on a master is a
  // no-op). The flush and the hold are then one transaction.
  await c.ops.detach(c.standbyNode);
  await c.ops.makeIdleStandby(c.standbyNode, { restore: saved, flush: true });
  return {};
}

async function beginFailover(
  c: ActionContext,
  action: Extract<Action, { kind: 'begin-failover' }>,
): Promise<Outcome> {
  // The outgoing node's settings go on disk with the record, before anything changes them (the
  // promotion is a later action, after this outcome is committed) — or, for an active held back
  // empty, the ones read before its hold, kept in memory until now.
  const savedConfig = c.heldActive?.ownSettings ?? (await originalSettings(c, c.activeNode));
  const at = new Date(c.now()).toISOString();
  const held = action.activeHeld === true ? [{ step: ACTIVE_HELD, at }] : [];
  const record: FailoverRecord = {
    id: randomUUID(),
    kind: action.failoverKind,
    reason: action.reason,
    startedAt: at,
    outgoing: c.activeNode.id,
    incoming: c.standbyNode.id,
    step: action.failoverKind === 'unplanned' && action.promote !== false ? 'promoting' : 'syncing',
    savedConfig,
    verifiedAt: null,
    timeline: [{ step: 'started', at, detail: action.reason }, ...held],
  };
  return {
    state: { ...c.persisted, failover: record },
    note: {
      level: 'warn',
      fields: { failover: record.id, kind: record.kind, reason: record.reason },
      message: 'failover started',
    },
  };
}

async function promote(c: ActionContext): Promise<Outcome> {
  const { activeNode: node } = c;
  // decide() saw it with its data a moment ago; one restarted since without it is never promoted
  // (a master with no keys answers every read with a nil). Looked at right before and right
  // after the two commands: a restart in between fails the round, and the next one decides on
  // what came back (hold-active: docs/design.md, "Roles and states", the active back empty).
  const before = await c.ops.view(node);
  if (backEmpty(before, c.persisted.activeRunId)) {
    throw new Error(`not promoting ${node.id}: it came back empty (restarted without its dataset)`);
  }
  await c.ops.guardWrites(node);
  await c.ops.detach(node);
  const after = await c.ops.view(node);
  if (after.reachable && after.runId !== before.runId) {
    throw new Error(
      `${node.id} restarted while it was promoted (run_id ${after.runId ?? 'unknown'}, not ${before.runId ?? 'unknown'}): looking at it again`,
    );
  }
  c.sessions.sessionFor(node.id)?.close('gated');
  // The promotion is retried with the standby's attach (same step) until that succeeds:
  // announce it once per failover, not once per retry.
  const failoverId = c.persisted.failover?.id;
  if (failoverId === undefined || c.promotionAnnounced === failoverId) return {};
  return {
    promotionAnnounced: failoverId,
    announce: [
      {
        type: 'active.promoted',
        data: { reason: 'the active serves its data, detached from the master' },
      },
    ],
  };
}

/**
 * The outgoing active, back empty, held as the idle standby is: its readers get -MASTERDOWN,
 * never a nil, until the standby replaces it. At once, whether or not the state can be written:
 * its own settings (the record's, else read before anything changes them) and the hold are kept
 * in memory first (active-hold.ts), so that the proxy answers its sync -NOMASTERLINK from the
 * first attempt: no full sync, no fork on the master. The hold goes on disk with the failover
 * record (begin-failover), or as the record's `active-held` mark; from then on syncHeld holds it,
 * after a restart too, and the retire finds it held and empty (nothing to flush).
 */
async function holdActive(c: ActionContext): Promise<Outcome> {
  const { activeNode: node } = c;
  const record = c.persisted.failover;
  const marked = record?.timeline.some((entry) => entry.step === ACTIVE_HELD) === true;
  const view = await c.ops.view(node);
  // A master just restarted: its config is its own. One that follows rbuddy already was held
  // (by this process: in memory; by one that died before it could record it: not known).
  const own =
    record?.savedConfig ??
    (view.role === 'master' ? undefined : c.heldActive?.ownSettings) ??
    (await originalSettings(c, node, view.followsProxy));
  const memo = { node: node.id, ownSettings: own };
  if (!marked) await c.commit({ activeHeld: { ...memo, held: isHeldStandby(view) } });
  if (!isHeldStandby(view)) {
    await c.ops.makeIdleStandby(node, { restore: own, flush: false });
    c.log.warn(
      { node: node.id },
      'the active came back empty and is held until the standby replaces it: reads answer -MASTERDOWN',
    );
  }
  c.sessions.sessionFor(node.id)?.close('gated');
  if (marked) return {};
  await c.commit({ activeHeld: { ...memo, held: true } });
  // In a failover already recorded, its mark; without one, begin-failover (planned next) records it.
  if (record === null) return {};
  return {
    state: { ...c.persisted, failover: { ...record, timeline: stamp(c, record, ACTIVE_HELD) } },
  };
}

/**
 * Makes the standby the idle standby rbuddy holds (docs/design.md, "Roles and states"): a
 * replica of the announce address with replica-serve-stale-data no, whose sync the proxy
 * answers -NOMASTERLINK. Its own settings are on disk before they change.
 */
async function holdStandby(c: ActionContext): Promise<Outcome> {
  const saved = await saveStandbySettings(c);
  await c.ops.makeIdleStandby(c.standbyNode, { restore: saved, flush: false });
  // A sync it began before it was held (a lost state file, an aborted failover) ends here; its
  // next attempt is held.
  c.sessions.sessionFor(c.standbyNode.id)?.close('gated');
  c.log.info(
    { node: c.standbyNode.id },
    'the idle standby is held: reads answer -MASTERDOWN, writes -READONLY',
  );
  return {};
}

async function attachStandby(c: ActionContext): Promise<Outcome> {
  await c.ops.attach(c.standbyNode);
  const record = c.persisted.failover;
  if (record === null) return {};
  return {
    state: {
      ...c.persisted,
      failover: {
        ...record,
        step: 'syncing',
        timeline: stamp(c, record, 'standby-attached'),
      },
    },
    syncAttemptStarted: true,
    standbyFailureCleared: true,
    announce: [{ type: 'standby.attached', data: {} }],
  };
}

async function switchRoles(
  c: ActionContext,
  verified: Extract<Action, { kind: 'switch' }>,
): Promise<Outcome> {
  const { persisted } = c;
  const record = requireFailover(persisted);
  const alreadySynced = record.timeline.some((entry) => entry.step === 'synced');
  // The incoming node's own settings are back before it is the active (a restart before the
  // write restores them again: same values).
  // Its replica-serve-stale-data too, so that it serves stale reads if the master goes away.
  // (Saved whenever rbuddy changed it: a node it never held keeps its own.)
  const incomingSaved = persisted.standbySavedConfig;
  if (incomingSaved !== undefined && incomingSaved !== null) {
    await c.ops.restoreConfig(c.standbyNode, incomingSaved);
  }
  const switched: PersistedState = {
    ...persisted,
    epoch: persisted.epoch + 1,
    active: record.incoming,
    standby: record.outgoing,
    activeHoldsData: true,
    activeRunId: verified.syncedRunId,
    // The outgoing node's settings are the failover record's until it is retired.
    standbySavedConfig: null,
    failover: {
      ...record,
      step: 'switched',
      verifiedAt: new Date(c.now()).toISOString(),
      // What the retire checks before it flushes the outgoing node (I2).
      syncedRunId: verified.syncedRunId,
      syncedKeys: verified.syncedKeys,
      timeline: stamp(c, record, ...(alreadySynced ? [] : ['synced']), 'switched'),
    },
  };
  return {
    state: switched,
    // I3: the new roles are on disk before any event announces them — and the events with them,
    // in the same atomic write (docs/design.md, "Persist, then announce").
    announce: [
      ...(alreadySynced ? [] : [{ type: 'standby.synced' as const, data: {} }]),
      {
        type: 'failover.completed',
        data: { reason: record.reason, previousActive: record.outgoing },
      },
    ],
  };
}

async function retireOutgoing(c: ActionContext): Promise<Outcome> {
  const { standbyNode: outgoing } = c;
  let persisted = c.persisted;
  let record = requireFailover(persisted);
  // I2: flush only the node the persisted state names the outgoing active of this epoch, with
  // the other node verified synced.
  if (
    record.step !== 'switched' ||
    record.outgoing !== persisted.standby ||
    record.incoming !== persisted.active ||
    record.verifiedAt === null ||
    record.outgoing !== outgoing.id
  ) {
    throw new Error(
      `refusing to flush ${outgoing.id}: the persisted state does not name it the outgoing active`,
    );
  }
  const view = await c.ops.view(outgoing);
  if (view.keys > 0) {
    // decide() checked the new active a moment ago; it may have died since. Asked again right
    // before the flush: another process or no data there, and this node may hold the only copy.
    const incoming = await c.ops.view(c.activeNode);
    // The master is asked only when the new active holds far fewer keys than the outgoing node:
    // a normal retire sends it nothing (its ACL user need not have INFO: docs/operations.md).
    const suspicious = incoming.reachable && incoming.keys * 2 < view.keys;
    const lost =
      newActiveLost(record, incoming, 0, view.keys) ??
      (suspicious ? notACopy(incoming, await c.masterKeys()) : undefined);
    if (lost !== undefined) throw new Error(`refusing to flush ${outgoing.id}: ${lost}`);
  }
  // Its clients are cut off before the transaction below, not after: a connection still open at
  // the EXEC would read -MASTERDOWN until a later CLIENT KILL, a failed read for every client
  // that does not follow the event stream. Until the EXEC the node still holds the whole
  // dataset (the FLUSHALL is inside it), so whoever reconnects to it meanwhile reads data, never
  // a nil; the clients that ask where the active is are sent to the new one.
  await c.ops.killClients(outgoing);
  // Already the idle standby and empty: a restart after the transaction but before the write
  // below. Nothing to flush, never twice.
  if (!(isHeldStandby(view) && view.keys === 0)) {
    if (record.savedConfig?.[STALE_DATA_SETTING] === undefined) {
      // A record written before replica-serve-stale-data was saved: its value goes on disk
      // before the transaction below changes it.
      const own = await originalSettings(c, outgoing, view.followsProxy);
      const savedConfig = {
        [STALE_DATA_SETTING]: own[STALE_DATA_SETTING] ?? 'yes',
        ...record.savedConfig,
      };
      record = { ...record, savedConfig };
      persisted = { ...persisted, failover: record };
      await c.commit({ state: persisted });
    }
    if (view.role === 'slave') {
      // Planned failover: the outgoing node still replicates, and a replica refuses FLUSHALL
      // (-READONLY). Guarded, then detached, so it never accepts a write as a master.
      await c.ops.guardWrites(outgoing);
      await c.ops.detach(outgoing);
    }
    // One transaction: flushed (unless already empty), its own settings back, and from the same
    // instant a held replica that answers -MASTERDOWN / -READONLY, never an empty read.
    await c.ops.makeIdleStandby(outgoing, {
      restore: record.savedConfig ?? {},
      flush: view.keys > 0,
    });
  }
  const endedAt = new Date(c.now()).toISOString();
  const done = { ...record, timeline: stamp(c, record, 'flushed', 'standby-ready') };
  return {
    state: {
      ...persisted,
      standbySavedConfig: record.savedConfig,
      failover: null,
      lastFailover: { ...done, endedAt, result: 'completed' },
    },
    // The new active synced from a live master: whatever loss started this failover is over.
    masterLossOver: true,
    announce: [{ type: 'standby.ready', data: { reason: `${outgoing.id} is the new standby` } }],
  };
}

/**
 * The new active restarted or lost its data before the outgoing node was retired: the outgoing
 * node, which holds the data, is the active again (epoch + 1, announced like any switch, I3), and
 * a new failover syncs the other node. Planned, it still streams from the master; unplanned, it
 * is the promoted, guarded active it was. Its saved settings carry over. Nothing is flushed (I2).
 */
function switchBack(c: ActionContext, reason: string): Outcome {
  const { persisted } = c;
  const record = requireFailover(persisted);
  if (
    record.step !== 'switched' ||
    record.outgoing !== persisted.standby ||
    record.incoming !== persisted.active
  ) {
    throw new Error('refusing to switch back: the persisted state is not a switched failover');
  }
  const at = new Date(c.now()).toISOString();
  const next: FailoverRecord = {
    id: randomUUID(),
    kind: 'unplanned',
    reason,
    startedAt: at,
    outgoing: record.outgoing,
    incoming: record.incoming,
    step: 'syncing',
    savedConfig: record.savedConfig,
    verifiedAt: null,
    timeline: [{ step: 'started', at, detail: reason }],
  };
  return {
    state: {
      ...persisted,
      epoch: persisted.epoch + 1,
      active: record.outgoing,
      standby: record.incoming,
      activeHoldsData: true,
      activeRunId: null,
      standbySavedConfig: null,
      failover: next,
      lastFailover: {
        ...record,
        timeline: stamp(c, record, 'switched-back'),
        endedAt: at,
        result: 'reverted',
      },
    },
    announce: [
      failed(reason),
      { type: 'failover.completed', data: { reason, previousActive: record.incoming } },
    ],
  };
}

// ---- helpers -----------------------------------------------------------------------------------

function failed(reason: string): Announcement {
  return { type: 'failover.failed', data: { reason } };
}

function requireFailover(persisted: PersistedState): FailoverRecord {
  if (persisted.failover === null) throw new Error('no failover in progress');
  return persisted.failover;
}

/** The state with the failover record's `changes`, its timeline stamped with `entries`. */
function failoverChanged(
  c: ActionContext,
  changes: Partial<Pick<FailoverRecord, 'step' | 'syncedRunId'>>,
  ...entries: Omit<TimelineEntry, 'at'>[]
): PersistedState {
  const record = requireFailover(c.persisted);
  const at = new Date(c.now()).toISOString();
  const timeline = [...record.timeline, ...entries.map((entry) => ({ ...entry, at }))];
  return { ...c.persisted, failover: { ...record, ...changes, timeline } };
}

function stamp(c: ActionContext, record: FailoverRecord, ...steps: string[]): TimelineEntry[] {
  const at = new Date(c.now()).toISOString();
  return [...record.timeline, ...steps.map((step) => ({ step, at }))];
}

/**
 * Why the new active cannot be a synced copy of the master, or undefined: it holds fewer than half
 * the master's keys (none at all, say) once loaded. Whatever the failover record claims (a record
 * is data anyone with the state's write access can put there), the node that holds the data is
 * not flushed for one that does not. The master's keys unknown (down, an ACL without INFO): not
 * judged here.
 */
function notACopy(incoming: NodeView, masterKeys: number | undefined): string | undefined {
  if (masterKeys === undefined || !incoming.reachable || incoming.loading) return undefined;
  if (incoming.keys * 2 >= masterKeys) return undefined;
  return `the new active ${incoming.id} holds ${incoming.keys} keys, the master ${masterKeys}: it is not a synced copy`;
}
