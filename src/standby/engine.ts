// The failover engine: a loop of observe → decide → act. It observes the replicas (INFO), the
// master (health probe) and the proxy's sessions (observe.ts); decide() (pure) says which state
// to be in and what to do; the actions (actions.ts) do it and return what they changed, which
// the engine commits through its StateKeeper (persist-then-announce.ts): saved before any event
// announces it (I3); retire-outgoing checks the state and the nodes before it flushes (I2); failed
// actions are retried with backoff, in status and logs (I4). Invariants: docs/design.md.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../notify/events.js';
import type { FullSyncStart, SessionInfo } from '../proxy/session-types.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';
import { runAction, type ActionContext, type Outcome } from './actions.js';
import { ActiveHold } from './active-hold.js';
import {
  decide,
  heldStandbyProblem,
  type Action,
  type DecideConfig,
  type Observations,
  type OperatorRequest,
} from './decide.js';
import type { EngineStatus } from './engine-status.js';
import { SwitchAge } from './drain.js';
import { fencedControl, NotActingError } from './fenced-ops.js';
import { FailoverObserver } from './observe.js';
import { OperatorRequests, type OperatorAnswer } from './operator-requests.js';
import type { NodeView } from './node-view.js';
import { epochSwitch, syncHeld, type EpochSwitch, type PersistedState } from './persisted-state.js';
import { gateFullSync } from './full-sync-gate.js';
import { StateKeeper } from './persist-then-announce.js';
import type { MasterHealth, NodeControl, SessionSource } from './ports.js';
import { reconcile, servingRoles, settledNote, settledState, type Roles } from './reconcile.js';
import { behindNodes, namedRoles } from './rolled-back-state.js';
import { notReady } from './readiness.js';
import { RoundLoop } from './round-loop.js';
import { unusableReason, type StateStore } from './state-store.js';
import { canTransition, type EngineState } from './states.js';
export type { EngineStatus } from './engine-status.js';

export interface EngineOptions {
  nodes: readonly [ReplicaNode, ReplicaNode];
  /** Roles on first start (no state yet). */
  initialActive: ReplicaNode;
  initialStandby: ReplicaNode;
  masterId: string;
  config: DecideConfig;
  store: StateStore;
  ops: NodeControl;
  probe: MasterHealth;
  /** The proxy's replica sessions. */
  sessions: SessionSource;
  bus: EventBus;
  logger: Logger;
  tickMs?: number;
  retry?: RetryPolicy;
  now?: () => number;
  /**
   * A switch read back from the state file is resumed (a restart during its drain): the app tells
   * of it again on its port (docs/design.md, "Restart and reconciliation"); not an event.
   */
  onSwitchResumed?: (resumed: EpochSwitch) => void;
  /** For tests only: a decision function forcing what decide() would not (production: unset). */
  decide?: typeof decide;
  /** Whether this instance may act now (it leads its group): asked before every change. */
  mayAct?: () => boolean;
}

export class FailoverEngine {
  private readonly options: EngineOptions;
  private readonly ops: NodeControl;
  private readonly log: Logger;
  private readonly now: () => number;
  private currentState: EngineState = 'starting';
  private currentReason: string | undefined = 'reading state';
  /** The persisted state, and the one way to change it and announce it. */
  private readonly keeper: StateKeeper;
  private corrupt: string | undefined;
  /** Who the nodes show serving, while no state can be trusted (for discovery and /active). */
  private observedRoles: Roles | undefined;
  private loaded = false;
  /** A round has looked at the nodes: until then every sync waits (holdsSync). */
  private looked = false;
  private readonly rounds: RoundLoop;

  private readonly observer: FailoverObserver;
  private fullResyncDemanded = false;
  private readonly requests: OperatorRequests;
  /** The failover whose promotion was announced (active.promoted), if any. */
  private promotionAnnounced: string | undefined;
  /** The active back empty, held before the state records it (active-hold.ts). */
  private readonly activeHold = new ActiveHold();
  private lastViews: NodeView[] = [];
  /** The state those views were taken under: a contradiction is judged on that one only. */
  private viewedUnder: PersistedState | undefined;
  /** When this process started acting: a switch it resumes drains from here (drain.ts). */
  private startedAt = Number.NEGATIVE_INFINITY;
  private readonly switchAge = new SwitchAge();

  constructor(options: EngineOptions) {
    // Every command that changes a node, and every save, is refused once this instance may not
    // act (fenced-ops.ts; docs/design.md, "High availability"). Alone, it always may.
    this.options = options;
    this.ops = fencedControl(options.ops, () => options.mayAct?.() !== false);
    this.log = options.logger.child({ component: 'failover' });
    this.now = options.now ?? Date.now;
    this.rounds = new RoundLoop({
      tickMs: () => options.tickMs ?? 250,
      // At most 2 s: a failing streak must not leave an active back empty unheld for 8 s.
      retry: options.retry ?? exponentialBackoff({ baseMs: 250, maxMs: 2_000 }),
      // Nothing is decided on a state that cannot be read; the nodes are still read (view()
      // never throws), so that discovery keeps naming the one that serves.
      round: () => (this.corrupt === undefined ? this.tick() : this.startUp().then(() => false)),
      failed: (error, attempt, retryInMs) => {
        this.log.warn(
          { err: error, attempt, retryInMs, state: this.currentState },
          'failover step failed; retrying',
        );
        // A round that fails keeps its state, but not `healthy` over an active held in memory
        // only (a state that cannot be written, say): that is what is going on.
        const held = this.activeHold.reason(this.rounds.lastError);
        if (held !== undefined) this.transition('degraded', held);
      },
    });
    const { store, bus, masterId } = options;
    this.keeper = new StateKeeper({ store, bus, masterId, log: this.log });
    this.observer = new FailoverObserver({
      sessions: options.sessions,
      probe: options.probe,
      nodeById: (id) => this.nodeById(id),
      persisted: () => this.keeper.current,
      announce: (type, data) => this.keeper.announce(type, data),
      wake: () => this.rounds.wake(),
      now: this.now,
      log: this.log,
    });
    this.requests = new OperatorRequests(this.log, this.now, () => this.rounds.wake());
  }

  get state(): EngineState {
    return this.currentState;
  }

  /**
   * The full-sync gate (I1): no snapshot ever reaches an active replica that holds data, nor a
   * node whose sync is held, whether the master answered its PSYNC with +FULLRESYNC or started
   * one after an inline SYNC.
   */
  readonly gate = (session: SessionInfo, start: FullSyncStart): 'relay' | 'close' => {
    const id = session.node.id;
    const verdict = gateFullSync(this.keeper.current, id, this.holdsSync(id));
    if (verdict.relay) return 'relay';
    this.log.warn({ replica: id, via: start.via }, verdict.why);
    if (verdict.demanded) {
      this.fullResyncDemanded = true;
      this.rounds.wake();
    }
    return 'close';
  };

  /**
   * Whether the proxy answers this node's sync -NOMASTERLINK (syncHeld; active-hold.ts; a state
   * behind the nodes, behindNodes: all of them). Every node's until the first round has looked at
   * them: load()'s first look may be older than the listener, and a sync relayed before the round
   * decides on the nodes may cost the master a fork for a +FULLRESYNC the gate refuses.
   */
  readonly holdsSync = (id: string): boolean =>
    !this.looked ||
    this.activeHold.of(id) !== undefined ||
    behindNodes(this.keeper.current, this.lastViews, this.viewedUnder) ||
    syncHeld(
      this.keeper.current,
      id,
      this.lastViews.find((view) => view.id === id),
    );

  /**
   * Reads the persisted state. Separate from {@link start} so the process can know its epoch and
   * roles before its listeners open: a status read right after a restart never sees "no epoch".
   */
  async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    const loaded = await this.options.store.load();
    const known = this.options.nodes.map((node) => node.id);
    this.corrupt = unusableReason(loaded, known);
    if (this.corrupt !== undefined) {
      this.log.error({ file: loaded.file, why: this.corrupt }, 'refusing to act on the state');
      this.transition('degraded', this.corrupt);
    } else if (loaded.kind === 'missing') {
      // Not a first start yet: a lost state file looks the same. The loop asks the nodes first.
      this.transition(
        'starting',
        `no state file (${loaded.file}): reading the nodes' roles before acting`,
      );
    } else if (loaded.kind === 'ok') {
      this.keeper.loaded(loaded.state);
      const { epoch, active, failover } = loaded.state;
      this.log.info({ epoch, active, failover: failover?.step }, 'state loaded');
      if (failover?.step === 'syncing') this.observer.syncAttemptStartedAt = this.now();
      const unsent = loaded.state.unannounced ?? [];
      if (unsent.length > 0) {
        // The previous process saved these with the state and may have died before its
        // outbox had them: send them again, same ids (the outbox skips what it already has).
        this.log.warn(
          { events: unsent.map((event) => ({ id: event.id, type: event.type })) },
          'sending events saved by the previous process that may never have been sent',
        );
        await this.keeper.announceSaved(unsent);
      }
      // A first look before anyone asks: an active the nodes contradict is never named once.
      const roles = [active, loaded.state.standby].map((id) => this.ops.view(this.nodeById(id)));
      [this.lastViews, this.viewedUnder] = [await Promise.all(roles), this.keeper.current];
    }
  }

  /** Starts the observe → decide → act loop (loading the state first if not done yet). */
  async start(): Promise<void> {
    await this.load();
    this.startedAt = this.now();
    const persisted = this.keeper.current;
    const resumed = persisted?.failover?.step === 'switched' ? epochSwitch(persisted) : undefined;
    if (resumed !== undefined) {
      this.log.info({ ...resumed }, 'resuming a switch: the old active drains a full --drain-ms');
      this.options.onSwitchResumed?.(resumed);
    }
    this.rounds.start();
  }

  async stop(): Promise<void> {
    await this.rounds.stop();
  }

  /** Operator requests from the admin API; validated here, carried out by the loop. */
  request(request: OperatorRequest): OperatorAnswer {
    return this.requests.receive(request, {
      persisted: this.keeper.current,
      state: this.currentState,
      reason: this.corrupt ?? this.currentReason,
      heldStandbyProblem: () => this.heldStandbyProblemNow(),
    });
  }

  /** Why /readyz answers 503 (readiness.ts), or undefined while the named active serves its data. */
  notReady(): string | undefined {
    const named = this.roles()?.active;
    return notReady({
      running: this.rounds.isRunning,
      stopping: this.stopping,
      persisted: this.keeper.current,
      noState: this.corrupt ?? this.currentReason,
      named,
      view: this.lastViews.find((candidate) => candidate.id === named),
      heldInMemory: named === undefined ? undefined : this.activeHold.of(named),
    });
  }

  ready(): boolean {
    return this.notReady() === undefined;
  }

  /** True once {@link stop} was called. */
  get stopping(): boolean {
    return this.loaded && this.rounds.stopped;
  }

  /** The persisted roles as the nodes bear them out (namedRoles); with no state, the nodes'. */
  roles(): Roles | undefined {
    const persisted = this.keeper.current;
    if (persisted === undefined) return this.observedRoles;
    return namedRoles(persisted, this.lastViews, this.viewedUnder);
  }

  /** A leader's poll: the store must still hold this engine's state (StateKeeper.keepSaved). */
  async keepStored(): Promise<void> {
    if (this.corrupt !== undefined || this.options.mayAct?.() === false) return;
    await this.keeper.keepSaved();
  }

  /** The switch that made the current epoch, as persisted (see epochSwitch). */
  currentSwitch(): EpochSwitch | undefined {
    return this.keeper.current === undefined ? undefined : epochSwitch(this.keeper.current);
  }

  status(): EngineStatus {
    const persisted = this.keeper.current;
    return {
      state: this.currentState,
      reason: this.currentReason ?? null,
      epoch: persisted?.epoch ?? null,
      // What /active and discovery name, so that status never contradicts them.
      active: this.roles()?.active ?? null,
      standby: this.roles()?.standby ?? null,
      masterUp: this.options.probe.up,
      masterLostSince:
        this.observer.masterLostSince === undefined
          ? null
          : new Date(this.observer.masterLostSince).toISOString(),
      failover: persisted?.failover ?? null,
      lastFailover: persisted?.lastFailover ?? null,
      lastError: this.rounds.lastError ?? null,
      lastOperatorRequest: this.requests.lastRequest,
      nodes: this.lastViews,
    };
  }

  /** The master probe's verdict changed. */
  readonly onMasterProbe = (up: boolean, error: string | undefined): void => {
    if (!up) this.observer.noteMasterLost(`health probe failed: ${error ?? 'no answer'}`);
    this.rounds.wake();
  };

  /** Runs `task` between two rounds (RoundLoop.between): an HA leader's repointing. */
  between<T>(task: () => Promise<T>): Promise<T> {
    return this.rounds.between(task);
  }

  // ---- the rounds ----------------------------------------------------------------------------

  /** One round of observe → decide → act; true when the next should follow at once. */
  private async tick(): Promise<boolean> {
    const persisted = this.keeper.current;
    if (persisted === undefined) return this.startUp();
    const byId = new Map(this.options.nodes.map((node) => [node.id, node]));
    const activeNode = byId.get(persisted.active);
    const standbyNode = byId.get(persisted.standby);
    if (activeNode === undefined || standbyNode === undefined) return false;

    // The standby first, then the active: the round decides on the active as it is now (looked at
    // together, a standby seconds slow to answer left a dead active's view that old: "healthy").
    const standby = await this.ops.view(standbyNode);
    const active = await this.ops.view(activeNode);
    [this.lastViews, this.viewedUnder, this.looked] = [[active, standby], persisted, true];
    const observer = this.observer;
    observer.refreshMasterLoss(persisted, active);

    // The inputs are read here and consumed only below, once the decision is accepted: a refused
    // decision leaves them for the next round (nothing awaits in between).
    const { operator, refusedConfirm } = this.requests.next();
    const observations: Observations = {
      now: this.now(),
      masterUp: this.options.probe.up,
      masterLostSince: observer.masterLostSince,
      fullResyncDemanded: this.fullResyncDemanded,
      active,
      standby,
      activeSession: observer.sessionView(activeNode),
      standbySession: observer.sessionView(standbyNode),
      operator,
      refusedConfirm,
      syncAttemptStartedAt: observer.syncAttemptStartedAt,
      startedAt: this.startedAt,
      activeHeldInMemory: this.activeHold.of(activeNode.id) !== undefined,
      switchAgeMs: this.switchAge.of(persisted.epoch, persisted.failover?.step === 'switched'),
    };
    const decision = (this.options.decide ?? decide)(persisted, observations, this.options.config);
    // A decision whose state the current one may not turn into is not acted on at all: no
    // action runs for a state the engine will not be in.
    const refused = this.transitionRefusal(decision.state);
    this.requests.decided(decision, refused);

    observer.noteStandbyTrouble(persisted, standby);
    if (refused !== undefined) {
      this.log.error(
        {
          from: this.currentState,
          to: decision.state,
          reason: decision.reason,
          kept: { fullResyncDemanded: this.fullResyncDemanded, refusedConfirm },
        },
        'transition not allowed: staying put, nothing done; its inputs are kept for the next round',
      );
      return false;
    }
    this.fullResyncDemanded = false;
    for (const action of decision.actions) {
      await this.act(action, { active: activeNode, standby: standbyNode });
    }
    this.transition(decision.state, decision.reason);
    return decision.actions.some((action) => action.kind === 'begin-failover');
  }

  /**
   * Runs one action and commits what it changed. Each action starts from the state as persisted
   * by the actions before it (hold-standby, always last, relies on that).
   */
  private async act(
    action: Action,
    nodes: { active: ReplicaNode; standby: ReplicaNode },
  ): Promise<void> {
    const context: ActionContext = {
      persisted: this.keeper.require(),
      activeNode: nodes.active,
      standbyNode: nodes.standby,
      ops: this.ops,
      masterKeys: async () => this.options.probe.keys?.(),
      sessions: this.options.sessions,
      now: this.now,
      log: this.log,
      promotionAnnounced: this.promotionAnnounced,
      heldActive: this.activeHold.of(nodes.active.id),
      commit: (outcome) => this.commit(outcome),
    };
    await this.commit(await runAction(action, context));
  }

  /** Persists, then remembers, then announces (persist-then-announce.ts). */
  private async commit(outcome: Outcome): Promise<void> {
    if (outcome.state !== undefined) this.fence('save the state');
    if (outcome.activeHeld !== undefined) this.fence('hold the active');
    await this.keeper.commit(outcome, () => this.remember(outcome));
  }

  /** The engine's memory of what a committed outcome changed. */
  private remember(outcome: Outcome): void {
    if (outcome.syncAttemptStarted === true) this.observer.syncAttemptStartedAt = this.now();
    if (outcome.standbyFailureCleared === true) this.observer.clearStandbyFailure();
    if (outcome.promotionAnnounced !== undefined) {
      this.promotionAnnounced = outcome.promotionAnnounced;
    }
    if (outcome.masterLossOver === true) this.observer.masterLossOver();
    if (outcome.activeHeld !== undefined) this.activeHold.remember(outcome.activeHeld);
    this.activeHold.settle(this.keeper.current);
    const note = outcome.note;
    if (note !== undefined) this.log[note.level](note.fields, note.message);
  }

  /**
   * A round without a usable state. Both nodes are observed, so that discovery keeps naming the
   * one that serves reads. A corrupt file stops there (nothing is decided on it); a
   * missing one is settled from what the nodes report (reconcile.ts) before anything is written
   * or done, so a lost state file is never taken for a first start. True once settled.
   */
  private async startUp(): Promise<boolean> {
    const { initialActive, initialStandby, ops } = this.options;
    const [active, standby] = await Promise.all([
      ops.view(initialActive),
      ops.view(initialStandby),
    ]);
    [this.lastViews, this.looked] = [[active, standby], true];
    this.observedRoles = servingRoles(active, standby);
    if (this.corrupt !== undefined) return false;
    const plan = reconcile(active, standby);
    if (plan.kind === 'wait') {
      this.transition(plan.state, plan.reason);
      return false;
    }
    // The standby is not detached, even an empty replica: as a master it would answer reads
    // with nothing. The loop makes it the held idle standby (decide.ts, hold-standby).
    const configured = { active: initialActive.id, standby: initialStandby.id };
    this.fence('save the settled state');
    const [at, floor] = [new Date(this.now()).toISOString(), this.options.store.epochFloor?.()];
    await this.keeper.save(settledState(plan, configured, at, randomUUID(), floor));
    const note = settledNote(plan, this.options.store.file);
    this.log[note.level](note.fields, note.message);
    return true;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** Why the held standby is not verified synced by the latest observations, if it is not. */
  private heldStandbyProblemNow(): string | undefined {
    const record = this.keeper.current?.failover;
    if (record === null || record === undefined) return 'no failover is held';
    const view = this.lastViews.find((candidate) => candidate.id === record.incoming);
    if (view === undefined) return 'the standby was not observed yet';
    const session = this.observer.sessionView(this.nodeById(record.incoming));
    return heldStandbyProblem(record, view, session)?.why;
  }

  /** Why the engine may not go from its state to `to`, or undefined when it may. */
  private transitionRefusal(to: EngineState): string | undefined {
    const from = this.currentState;
    return canTransition(from, to) ? undefined : `the state cannot go from ${from} to ${to}`;
  }

  /** Every change of state goes through here: checked against the table, logged `from → to`. */
  private transition(to: EngineState, reason: string | undefined): void {
    const from = this.currentState;
    if (!canTransition(from, to)) {
      this.log.error({ from, to, reason }, 'transition not allowed: staying put');
      return;
    }
    if (from !== to) this.log.info({ from, to, reason }, `state ${from} → ${to}`);
    else if (reason !== this.currentReason && to === 'degraded')
      this.log.warn({ reason }, 'degraded');
    this.currentState = to;
    this.currentReason = reason;
  }

  private fence(step: string): void {
    if (this.options.mayAct?.() === false) throw new NotActingError(step);
  }

  private nodeById(id: string): ReplicaNode {
    const node = this.options.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`unknown node ${id}`);
    return node;
  }
}
