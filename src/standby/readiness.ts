// Readiness (GET /readyz): whether the node GET /active names serves its dataset, and why not. Not
// from the first moment of a shutdown (a load balancer stops routing here before the listeners
// close), nor before the active's first sync, nor while that node cannot answer reads with its
// data: unreachable, loading, or back empty, whether held (its reads answer -MASTERDOWN) or not
// yet (nils): docs/design.md, "Roles and states", the active back empty.
import { backEmpty, isHeldStandby, unreachable, type NodeView } from './node-view.js';
import type { ActiveHeldInMemory } from './active-hold.js';
import { ACTIVE_HELD, type PersistedState } from './persisted-state.js';

export interface ReadinessInput {
  /** The engine's rounds run. */
  running: boolean;
  stopping: boolean;
  persisted: PersistedState | undefined;
  /** Why there is no state to act on yet (the engine's reason: corrupt, no file, reading). */
  noState: string | undefined;
  /** The node GET /active names. */
  named: string | undefined;
  /** What the engine last saw of it. */
  view: NodeView | undefined;
  /** The engine's hold of it back empty, its failover not recorded yet (active-hold.ts). */
  heldInMemory: ActiveHeldInMemory | undefined;
}

/** Why /readyz answers 503, or undefined while the named active serves its dataset. */
export function notReady(input: ReadinessInput): string | undefined {
  const { persisted, named, view } = input;
  if (input.stopping) return 'shutting down';
  if (!input.running) return 'the failover engine is not running yet';
  if (persisted === undefined) return `no state to act on: ${input.noState ?? 'not read yet'}`;
  if (!persisted.activeHoldsData) {
    return `the active ${persisted.active} holds no dataset yet (its first sync)`;
  }
  if (named === undefined) return 'no node serving reads is known';
  if (view === undefined) return `the active ${named} was not looked at yet`;
  if (!view.reachable) return unreachable(view, 'active');
  if (view.loading) return `the active ${named} is loading its dataset`;
  // Held by the record (its failover's mark, until the switch) or by this process: whatever the
  // last look (taken before the hold, maybe) showed.
  const record = persisted.failover;
  const marked =
    record !== null &&
    record.step !== 'switched' &&
    record.outgoing === named &&
    record.timeline.some((entry) => entry.step === ACTIVE_HELD);
  const held = marked || input.heldInMemory?.held === true || isHeldStandby(view);
  if (!marked && input.heldInMemory === undefined && !backEmpty(view, persisted.activeRunId)) {
    return undefined;
  }
  return held
    ? `the active ${named} came back empty and is held until the standby replaces it: its reads answer -MASTERDOWN`
    : `the active ${named} came back empty (restarted without its dataset: its reads answer nils until it is held)`;
}
