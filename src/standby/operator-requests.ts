// Operator requests from the admin API (a planned failover, confirm or abort of a held one):
// checked against the engine's state when they arrive, handed to the next decision, and
// followed up, so the operator learns whether the loop carried a request out or dropped it.
import type { Logger } from 'pino';
import type { Action, Decision, OperatorRequest } from './decide.js';
import type { PersistedState } from './persisted-state.js';
import type { EngineState } from './states.js';

/** The engine's answer to a request: taken on, or refused with why (the state does not allow it). */
export type OperatorAnswer = { accepted: true } | { accepted: false; reason: string };

/**
 * An accepted request is carried out by the next round of the loop; if the state changed in
 * between (the master went away just after a planned failover was asked for, say), the request
 * is dropped, and this says so: an acceptance alone would leave the operator guessing.
 */
export interface OperatorRequestRecord {
  request: OperatorRequest;
  acceptedAt: string;
  outcome: 'pending' | 'carried-out' | 'dropped';
  /** For `dropped`: the state the engine decided on instead, and why. */
  reason: string | null;
}

/** The engine as a request finds it. */
export interface RequestContext {
  /** Undefined while no state can be trusted. */
  persisted: PersistedState | undefined;
  state: EngineState;
  /** Why the engine is in its state (or why its state file cannot be trusted). */
  reason: string | undefined;
  /** Why the held standby is not verified synced by the latest observations, if it is not. */
  heldStandbyProblem: () => string | undefined;
}

/** The actions that carry out each request (see decide()). */
const CARRIES_OUT: Record<OperatorRequest, ReadonlyArray<Action['kind']>> = {
  failover: ['begin-failover', 'attach-standby'],
  confirm: ['switch'],
  abort: ['abort'],
};

export class OperatorRequests {
  private pending: OperatorRequest | undefined;
  /** Why a confirm was last refused, for the next decision (back to syncing). */
  private refusedConfirm: string | undefined;
  private last: OperatorRequestRecord | undefined;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    /** The loop should not wait for its tick: there is something to decide on. */
    private readonly wake: () => void,
  ) {}

  /** The last request accepted, and what became of it (for status). */
  get lastRequest(): OperatorRequestRecord | null {
    return this.last === undefined ? null : { ...this.last };
  }

  /** A request arrives: accepted for the next round, or refused with the reason. */
  receive(request: OperatorRequest, engine: RequestContext): OperatorAnswer {
    const { persisted } = engine;
    if (persisted === undefined) {
      return { accepted: false, reason: engine.reason ?? 'state not loaded yet' };
    }
    if (this.pending !== undefined) {
      return { accepted: false, reason: `a ${this.pending} request is already pending` };
    }
    const step = persisted.failover?.step;
    const ok =
      request === 'failover'
        ? (engine.state === 'healthy' && persisted.failover === null) || step === 'aborted'
        : step === 'held';
    if (!ok) {
      const wanted =
        request === 'failover' ? 'a healthy state (or an aborted failover)' : 'a held failover';
      const why = engine.reason === undefined ? '' : ` (${engine.reason})`;
      return {
        accepted: false,
        reason: `${request} needs ${wanted}; the state is ${engine.state}${why}`,
      };
    }
    if (request === 'confirm') {
      // The standby may have restarted (or lost its link, or begun a new sync) since the switch
      // was held: verified again from the latest observations, and again by the loop before it
      // switches. Refused, the failover goes back to waiting for the standby's sync.
      const problem = engine.heldStandbyProblem();
      if (problem !== undefined) {
        this.refusedConfirm = problem;
        this.log.warn({ why: problem }, 'operator confirm refused: the standby is not verified');
        this.wake();
        return {
          accepted: false,
          reason: `confirm refused: ${problem}; rbuddy waits for the standby's sync again`,
        };
      }
    }
    this.pending = request;
    this.last = {
      request,
      acceptedAt: new Date(this.now()).toISOString(),
      outcome: 'pending',
      reason: null,
    };
    this.wake();
    return { accepted: true };
  }

  /** What the next decision is told; nothing is consumed before {@link decided}. */
  next(): { operator: OperatorRequest | undefined; refusedConfirm: string | undefined } {
    return { operator: this.pending, refusedConfirm: this.refusedConfirm };
  }

  /**
   * The decision told {@link next} was taken. `refused`: why its transition is not allowed (then
   * none of its actions runs). The operator's request is settled either way, and the operator
   * told (`dropped`, with the refusal) rather than carried out later in another state; a refused
   * confirm is the engine's own input, kept until a decision is accepted.
   */
  decided(decision: Decision, refused: string | undefined): void {
    const request = this.pending;
    this.pending = undefined;
    if (refused === undefined) this.refusedConfirm = undefined;
    if (request !== undefined) this.settle(request, decision, refused);
  }

  /** Records what became of a request the decision was told. */
  private settle(request: OperatorRequest, decision: Decision, refused: string | undefined): void {
    const record = this.last;
    if (record === undefined || record.request !== request || record.outcome !== 'pending') return;
    const carried = decision.actions.some((action) => CARRIES_OUT[request].includes(action.kind));
    if (carried && refused === undefined) {
      record.outcome = 'carried-out';
      return;
    }
    record.outcome = 'dropped';
    record.reason =
      refused ??
      `the state became ${decision.state} before it ran${
        decision.reason === undefined ? '' : `: ${decision.reason}`
      }`;
    this.log.warn(
      { request, state: decision.state, reason: decision.reason },
      `operator ${request} request dropped: ${record.reason}`,
    );
  }
}
