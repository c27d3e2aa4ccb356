// What the failover engine reports of itself (/v1/status, metrics): kept apart from engine.ts so
// that readers of the status need not read the engine.
import type { NodeView } from './node-view.js';
import type { OperatorRequestRecord } from './operator-requests.js';
import type { FailoverRecord, PersistedState } from './persisted-state.js';
import type { EngineState } from './states.js';

export interface EngineStatus {
  state: EngineState;
  reason: string | null;
  epoch: number | null;
  active: string | null;
  standby: string | null;
  masterUp: boolean;
  masterLostSince: string | null;
  failover: FailoverRecord | null;
  lastFailover: PersistedState['lastFailover'];
  lastError: string | null;
  /** The last operator request accepted by the admin API, and what became of it. */
  lastOperatorRequest: OperatorRequestRecord | null;
  nodes: NodeView[];
}
