// The rows of decide()'s state × observation table for a failover switched, one server under both
// names, and an aborted failover.
import { down, held, master, replica } from '../../helpers/node-views.js';
import {
  A,
  afterSwitch,
  B,
  during,
  firstStart,
  healthy,
  iso,
  NO_SESSION,
  NOW,
  promotedAndSynced,
  type Row,
  steady,
} from '../../helpers/decide-fixtures.js';

export const switchedRows: Row[] = [
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
    name: 'switched, the new active restarted empty (another run_id): switch back, never flush A',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({
      active: master(B, { keys: 0, runId: 'run-restarted', writesGuarded: false }),
      activeSession: NO_SESSION,
    }),
    state: 'failing-over',
    actions: ['switch-back'],
    reason: /restarted since it was verified synced .*10\.0\.0\.5:6379 still holds 1000 keys/,
  },
  {
    name: 'switched, the new active restarted with stale data (another run_id): switch back',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({ active: replica(B, { keys: 990, runId: 'run-restarted' }) }),
    state: 'failing-over',
    actions: ['switch-back'],
    reason: /restarted since it was verified synced/,
  },
  {
    name: 'switched, the same new active lost its keys: switch back',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({ active: replica(B, { keys: 0 }) }),
    state: 'failing-over',
    actions: ['switch-back'],
    reason: /holds 0 keys, of the 990 verified/,
  },
  {
    name: 'switched, the new active restarted but the old one is empty too: retire, nothing flushed',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({
      active: master(B, { keys: 0, runId: 'run-restarted' }),
      standby: master(A, { keys: 0 }),
    }),
    state: 'failing-over',
    actions: ['retire-outgoing'],
    reason: /restarted since it was verified synced/,
  },
  {
    name: 'switched, the new active restarted, the old one loading: wait',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({
      active: master(B, { keys: 0, runId: 'run-restarted' }),
      standby: master(A, { keys: 1000, loading: true }),
    }),
    state: 'switching',
    actions: [],
    reason: /not retiring: the new active .* restarted/,
  },
  {
    name: 'switched, the new active’s link down (the master gone during the drain): retire all the same',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({
      active: replica(B, { keys: 990, linkUp: false }),
      activeSession: NO_SESSION,
      masterUp: false,
    }),
    state: 'healthy',
    actions: ['retire-outgoing'],
  },
  {
    name: 'switched, the new active loading: wait',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({ active: replica(B, { keys: 990, loading: true }) }),
    state: 'switching',
    actions: [],
    reason: /not retiring yet: 10\.0\.0\.6:6379 is loading/,
  },
  {
    name: 'switched, the same new active detached by someone: degraded, no flush',
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: afterSwitch({
      active: master(B, { keys: 990, writesGuarded: false }),
      activeSession: NO_SESSION,
    }),
    state: 'degraded',
    actions: [],
    reason: /not retiring 10\.0\.0\.5:6379, which keeps its 1000 keys: .*REPLICAOF/,
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
    obs: promotedAndSynced({ standby: held(B, { keys: 990 }), standbySession: NO_SESSION }),
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
    obs: promotedAndSynced({ standby: held(B, { keys: 990 }), standbySession: NO_SESSION }),
    state: 'degraded',
    actions: [],
    reason: /^no state file, but the nodes show A serving: .*POST \/v1\/failover/,
  },
  {
    name: 'aborted, the master flapping: no new failover on its own',
    persisted: during('aborted'),
    obs: promotedAndSynced({
      standby: held(B, { keys: 990 }),
      masterUp: false,
      masterLostSince: NOW - 60_000,
      fullResyncDemanded: true,
    }),
    state: 'degraded',
    actions: [],
    reason: /aborted/,
  },
  {
    name: 'aborted, the standby a master accepting writes (detached by hand, say): held',
    persisted: during('aborted'),
    obs: promotedAndSynced({
      standby: master(B, { writesGuarded: false }),
      standbySession: NO_SESSION,
    }),
    state: 'degraded',
    actions: ['hold-standby'],
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
