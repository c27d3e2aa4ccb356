// What the demo reads in rbuddy's JSON log lines: the events it emitted, its state changes, its
// failover actions (in words), and the sync requests of the replicas attached through it.
import { count } from './terminal.js';

/** One event rbuddy emitted, as its log line tells it (`msg: "event <type>"`). */
export interface EventRecord {
  id: string;
  type: string;
  epoch: number;
  at: number;
  reason: string | undefined;
}

/** One change of rbuddy's state (`msg: "state <from> → <to>"`). */
export interface StateChange {
  at: number;
  from: string;
  to: string;
  reason: string | undefined;
}

/** What each failover action rbuddy logs does, in words. */
const ACTIONS: Record<string, string> = {
  'attach-active': 'REPLICAOF rbuddy on the active: it full-syncs through the proxy',
  'prepare-standby':
    'the standby detached, then flushed and held in one MULTI/EXEC (--init-flush-standby)',
  'mark-active-holds-data': 'the active holds its dataset: no full resync may reach it from now on',
  'begin-failover': 'failover recorded in the state dir (the active config saved)',
  promote:
    'REPLICAOF NO ONE + the min-replicas write guard on the active: it serves, writes refused',
  'hold-standby':
    'the standby held as a replica of rbuddy (its own settings saved first): reads -MASTERDOWN, writes -READONLY',
  'attach-standby': "rbuddy releases the standby's hold: it waits for the master, then syncs",
  'restart-standby-sync': "restarting the standby's sync",
  hold: 'holding the switch for an operator',
  switch: 'epoch + 1, roles swapped and persisted before they are announced',
  'retire-outgoing':
    'old active: FLUSHALL ASYNC, config restored, held as a replica of rbuddy in one MULTI/EXEC, then CLIENT KILL; it is the standby',
  abort: 'failover aborted',
};

/** Log lines already told by an event or a state change; not repeated as warnings. */
export const TOLD_ELSEWHERE = new Set(['master lost', 'failover started']);

/** The event a log line announces (`msg: "event <type>"` with an `event` object), if any. */
export function readEvent(
  line: Record<string, unknown>,
  msg: string,
  at: number,
): EventRecord | undefined {
  if (!msg.startsWith('event ') || typeof line.event !== 'object' || line.event === null) {
    return undefined;
  }
  const event = line.event as {
    id?: unknown;
    type?: unknown;
    epoch?: unknown;
    data?: { reason?: unknown };
  };
  return {
    id: typeof event.id === 'string' ? event.id : '?',
    type: typeof event.type === 'string' ? event.type : msg.slice('event '.length),
    epoch: typeof event.epoch === 'number' ? event.epoch : -1,
    at,
    reason: typeof event.data?.reason === 'string' ? event.data.reason : undefined,
  };
}

/** The state change a log line tells (`msg: "state …"` with `from` and `to`), if any. */
export function readStateChange(
  line: Record<string, unknown>,
  msg: string,
  at: number,
): StateChange | undefined {
  if (typeof line.from !== 'string' || typeof line.to !== 'string' || !msg.startsWith('state ')) {
    return undefined;
  }
  return {
    at,
    from: line.from,
    to: line.to,
    reason: typeof line.reason === 'string' ? line.reason : undefined,
  };
}

/** What a failover action does, in words ('' for an action the demo does not know). */
export function actionText(action: string): string {
  return ACTIONS[action] ?? '';
}

/** A replica's sync request as rbuddy logged it: `SYNC` or `PSYNC <replid> <offset>`. */
export function describeRequest(request: unknown): string {
  if (typeof request !== 'object' || request === null) return 'sync request';
  const r = request as { kind?: unknown; replid?: unknown; offset?: unknown };
  if (r.kind === 'sync') return 'SYNC';
  return `PSYNC ${shortId(r.replid)} ${r.replid === '?' ? '-1' : count(Number(r.offset))}`;
}

export function shortId(replid: unknown): string {
  return typeof replid === 'string' && replid.length > 12
    ? `${replid.slice(0, 8)}…`
    : String(replid);
}
