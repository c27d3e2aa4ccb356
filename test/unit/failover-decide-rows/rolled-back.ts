// The rows of decide()'s state × observation table for a state older than the nodes (a backup
// restored after a switch: docs/design.md, "Restart and reconciliation"): the node the state calls
// the active was retired, the one it calls the idle standby holds the data. Never a hold of the
// node with the data, never a promotion of the empty one: the nodes' roles are adopted, or
// nothing is done.
import { held, master, replica } from '../../helpers/node-views.js';
import {
  A,
  B,
  during,
  firstStart,
  NOW,
  rolledBackNodes,
  type Row,
  steady,
  NO_SESSION,
  STREAMING,
} from '../../helpers/decide-fixtures.js';

const OLDER = /state names 10\.0\.0\.5:6379 the active .* older than the nodes/;

export const rolledBackRows: Row[] = [
  {
    name: 'rolled back: the recorded active held and empty, the standby with the data: adopted, nothing held',
    persisted: steady(),
    obs: rolledBackNodes(),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: OLDER,
  },
  {
    name: 'rolled back, the standby still streaming (through the instance that switched): adopted',
    persisted: steady(),
    obs: rolledBackNodes({ standby: replica(B), standbySession: STREAMING }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: OLDER,
  },
  {
    name: 'rolled back, the master demanded a full resync of the empty node: never a promotion',
    persisted: steady(),
    obs: rolledBackNodes({ fullResyncDemanded: true }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: OLDER,
  },
  {
    name: 'rolled back, the master lost past grace: adopted, not failed over from the empty node',
    persisted: steady(),
    obs: rolledBackNodes({ masterUp: false, masterLostSince: NOW - 10_000 }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: OLDER,
  },
  {
    name: 'rolled back, an operator asks for a failover: adopted first',
    persisted: steady(),
    obs: rolledBackNodes({ operator: 'failover' }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: OLDER,
  },
  {
    name: 'rolled back, the recorded active an empty master: adopted, not failed over',
    persisted: steady(),
    obs: rolledBackNodes({ active: master(A, { writesGuarded: false }) }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: OLDER,
  },
  {
    name: 'rolled back, the data on a promoted master (write guard): adopted as promoted',
    persisted: steady(),
    obs: rolledBackNodes({ standby: master(B, { keys: 1000 }) }),
    state: 'degraded',
    actions: ['adopt-nodes-roles(promoted)'],
    reason: OLDER,
  },
  {
    name: 'rolled back to a failover at promoting: the empty node is not promoted',
    persisted: during('promoting'),
    obs: rolledBackNodes({ masterUp: false, masterLostSince: NOW - 2000 }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: /failover at step promoting.* older than the nodes/,
  },
  {
    name: 'rolled back, the node with the data loading: nothing done until it has loaded',
    persisted: steady(),
    obs: rolledBackNodes({ standby: replica(B, { linkUp: false, loading: true }) }),
    state: 'degraded',
    actions: [],
    reason: /waiting for 10\.0\.0\.6:6379 to load before adopting.* nothing is done/,
  },
  {
    name: 'rolled back, the empty node loading: nothing done until it has loaded',
    persisted: steady(),
    obs: rolledBackNodes({ active: held(A, { loading: true }) }),
    state: 'degraded',
    actions: [],
    reason: /waiting for 10\.0\.0\.5:6379 to load/,
  },
  {
    name: 'rolled back, the data replicating from another address (before a takeover repoints it): nothing done',
    persisted: steady(),
    obs: rolledBackNodes({
      standby: replica(B, { followsProxy: false, masterAddress: '10.0.0.8:6382' }),
    }),
    state: 'degraded',
    actions: [],
    reason: /10\.0\.0\.6:6379 holds keys replicated from 10\.0\.0\.8:6382 .*refusing to guess/,
  },
  {
    name: 'rolled back to a switch in its drain: the node it made active held and empty since (retired by a later failover): adopted, no switch-back',
    // A value captured mid-drain and put back after the next failover (reviewer round 4, F14:
    // before, a switch-back, then an unrequested failover that flushed the serving node).
    persisted: during('switched', { switchedAgoMs: 10_000 }),
    obs: rolledBackNodes({
      active: held(B, { keys: 0 }),
      standby: replica(A, { keys: 1000 }),
      activeSession: NO_SESSION,
      standbySession: STREAMING,
    }),
    state: 'degraded',
    actions: ['adopt-nodes-roles'],
    reason: /state names 10\.0\.0\.6:6379 the active .* older than the nodes/,
  },
  {
    name: 'not rolled back: syncing, the outgoing active empty and the standby synced: the switch goes on',
    persisted: during('syncing'),
    obs: rolledBackNodes({ standby: replica(B), standbySession: STREAMING }),
    state: 'switching',
    actions: ['switch'],
  },
  {
    name: 'not rolled back: a first start (no data recorded) with the standby serving: refused, as before',
    persisted: firstStart(),
    obs: rolledBackNodes(),
    state: 'degraded',
    actions: [],
    reason: /refusing to flush it without --init-flush-standby/,
  },
];
