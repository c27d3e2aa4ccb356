// The failover engine (SPEC §5): a loop of observe → decide → act. It observes the replicas
// (INFO), the master (health probe) and the proxy's sessions; decide() (pure) says which state
// to be in and what to do; the actions here do it — persisting before anything is announced
// (I3) and checking the persisted state before anything is flushed (I2). Failed actions are
// retried with backoff and show in status and logs (I4).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus, EventData, EventType, RbuddyEvent } from '../notify/events.js';
import type { ProxyServer } from '../proxy/proxy-server.js';
import type { ReplicaSession } from '../proxy/replica-session.js';
import type { FullSyncStart, SessionEvent, SessionInfo } from '../proxy/session-types.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { exponentialBackoff, type RetryPolicy } from '../retry-policy.js';
import {
  decide,
  heldStandbyProblem,
  isSynced,
  type Action,
  type Decision,
  type DecideConfig,
  type NodeView,
  type Observations,
  type OperatorRequest,
  type SessionView,
} from './decide.js';
import type { MasterProbe } from './master-probe.js';
import { reconcile, servingRoles, settledState, type Roles } from './reconcile.js';
import { isWriteGuard, REDIS_DEFAULTS, type NodeOps } from './node-ops.js';
import type {
  FailoverRecord,
  PersistedState,
  SavedConfig,
  TimelineEntry,
} from './persisted-state.js';
import type { StateStore } from './state-store.js';
import { canTransition, type EngineState } from './states.js';

export interface EngineOptions {
  nodes: readonly [ReplicaNode, ReplicaNode];
  /** Roles on first start (no state yet). */
  initialActive: ReplicaNode;
  initialStandby: ReplicaNode;
  masterId: string;
  config: DecideConfig;
  store: StateStore;
  ops: NodeOps;
  probe: MasterProbe;
  proxy: ProxyServer;
  bus: EventBus;
  logger: Logger;
  tickMs?: number;
  retry?: RetryPolicy;
  now?: () => number;
}

interface SessionTrack {
  sessionId: string;
  /** The master answered +FULLRESYNC and it was relayed: a full sync is under way. */
  syncBegun: boolean;
  streaming: boolean;
  ackedSinceStreaming: boolean;
}

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

/**
 * An accepted request is carried out by the next round of the loop; if the state changed in
 * between (the master went away just after a planned failover was asked for, say), the request
 * is dropped, and this says so: a 202 alone would leave the operator guessing.
 */
export interface OperatorRequestRecord {
  request: OperatorRequest;
  acceptedAt: string;
  outcome: 'pending' | 'carried-out' | 'dropped';
  /** For `dropped`: the state the engine decided on instead, and why. */
  reason: string | null;
}

/** The actions that carry out each operator request (see decide()). */
const CARRIES_OUT: Record<OperatorRequest, ReadonlyArray<Action['kind']>> = {
  failover: ['begin-failover', 'attach-standby'],
  confirm: ['switch'],
  abort: ['abort'],
};

/**
 * How long a switch waits for its events to be on disk in the outbox before it goes on without
 * that confirmation (they stay in the state file and the next start sends them again).
 */
const ANNOUNCE_TIMEOUT_MS = 5_000;

export type OperatorAnswer =
  { accepted: true } | { accepted: false; status: number; reason: string };

export class FailoverEngine {
  private readonly options: EngineOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly retry: RetryPolicy;
  private currentState: EngineState = 'starting';
  private currentReason: string | undefined = 'reading state';
  private persisted: PersistedState | undefined;
  private corrupt: string | undefined;
  /** Who the nodes show serving, while no state can be trusted (for discovery and /active). */
  private observedRoles: Roles | undefined;
  private loaded = false;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;

  private masterLostSince: number | undefined;
  private masterDownAnnounced = false;
  private fullResyncDemanded = false;
  private operator: OperatorRequest | undefined;
  /** Why the admin API last refused a confirm, for the next decision (back to syncing). */
  private refusedConfirm: string | undefined;
  private lastOperatorRequest: OperatorRequestRecord | undefined;
  private syncAttemptStartedAt: number | undefined;
  private standbyFailureAnnounced = false;
  /** The failover whose promotion was announced (active.promoted), if any. */
  private promotedAnnounced: string | undefined;
  private failedActions = 0;
  private lastError: string | undefined;
  private readonly tracks = new Map<string, SessionTrack>();
  private lastViews: NodeView[] = [];

  constructor(options: EngineOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'failover' });
    this.now = options.now ?? Date.now;
    this.retry = options.retry ?? exponentialBackoff({ baseMs: 250, maxMs: 10_000 });
    options.proxy.on('session-event', this.onSessionEvent);
  }

  get state(): EngineState {
    return this.currentState;
  }

  /**
   * The full-sync gate (I1): no snapshot ever reaches an active replica that holds data, whether
   * the master answered its PSYNC with +FULLRESYNC or started one after an inline SYNC.
   */
  readonly gate = (session: SessionInfo, start: FullSyncStart): 'relay' | 'close' => {
    const persisted = this.persisted;
    if (persisted === undefined) {
      // State unknown (not read yet, or corrupt): a full resync may destroy a dataset.
      this.log.warn({ replica: session.node.id }, 'refusing FULLRESYNC while the state is unknown');
      return 'close';
    }
    if (session.node.id === persisted.active && persisted.activeHoldsData) {
      this.log.warn(
        { replica: session.node.id, via: start.via },
        'the master demanded a full resync of the active replica: closing its session instead',
      );
      this.fullResyncDemanded = true;
      this.wake();
      return 'close';
    }
    return 'relay';
  };

  /**
   * Reads the persisted state. Separate from {@link start} so the process can know its epoch and
   * roles before its listeners open: a status read right after a restart never sees "no epoch".
   */
  async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    const loaded = await this.options.store.load();
    if (loaded.kind === 'corrupt') {
      this.corrupt = `state file ${loaded.file} is corrupt (${loaded.why}): refusing to act; fix or remove it and restart`;
      this.log.error({ file: loaded.file, why: loaded.why }, 'state file is corrupt');
      this.transition('degraded', this.corrupt);
    } else if (loaded.kind === 'missing') {
      // Not a first start yet: a lost state file looks the same. The loop asks the nodes first.
      this.transition(
        'starting',
        `no state file (${loaded.file}): reading the nodes' roles before acting`,
      );
    } else {
      const known = new Set(this.options.nodes.map((node) => node.id));
      if (!known.has(loaded.state.active) || !known.has(loaded.state.standby)) {
        this.corrupt = `state file ${loaded.file} names ${loaded.state.active} and ${loaded.state.standby}, but the configuration names ${[...known].join(' and ')}: refusing to act`;
        this.transition('degraded', this.corrupt);
      } else {
        this.persisted = loaded.state;
        this.log.info(
          {
            epoch: loaded.state.epoch,
            active: loaded.state.active,
            failover: loaded.state.failover?.step,
          },
          'state loaded',
        );
        if (loaded.state.failover?.step === 'syncing') this.syncAttemptStartedAt = this.now();
        const unsent = loaded.state.unannounced ?? [];
        if (unsent.length > 0) {
          // The previous process saved these with the state and may have died before its
          // outbox had them: send them again, same ids (the outbox skips what it already has).
          this.log.warn(
            { events: unsent.map((event) => ({ id: event.id, type: event.type })) },
            'sending events saved by the previous process that may never have been sent',
          );
          await this.announce(unsent);
        }
      }
    }
  }

  /** Starts the observe → decide → act loop (loading the state first if not done yet). */
  async start(): Promise<void> {
    await this.load();
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loopDone;
  }

  /** Operator requests from the admin API; validated here, carried out by the loop. */
  request(request: OperatorRequest): OperatorAnswer {
    if (this.persisted === undefined) {
      return {
        accepted: false,
        status: 409,
        reason: this.corrupt ?? this.currentReason ?? 'state not loaded yet',
      };
    }
    if (this.operator !== undefined) {
      return {
        accepted: false,
        status: 409,
        reason: `a ${this.operator} request is already pending`,
      };
    }
    const step = this.persisted.failover?.step;
    const ok =
      request === 'failover'
        ? (this.currentState === 'healthy' && this.persisted.failover === null) ||
          step === 'aborted'
        : step === 'held';
    if (!ok) {
      const wanted =
        request === 'failover' ? 'a healthy state (or an aborted failover)' : 'a held failover';
      const why = this.currentReason === undefined ? '' : ` (${this.currentReason})`;
      return {
        accepted: false,
        status: 409,
        reason: `${request} needs ${wanted}; the state is ${this.currentState}${why}`,
      };
    }
    if (request === 'confirm') {
      // The standby may have restarted (or lost its link, or begun a new sync) since the switch
      // was held: verified again from the latest observations, and again by the loop before it
      // switches. Refused, the failover goes back to waiting for the standby's sync.
      const problem = this.heldStandbyProblemNow();
      if (problem !== undefined) {
        this.refusedConfirm = problem;
        this.log.warn({ why: problem }, 'operator confirm refused: the standby is not verified');
        this.wake();
        return {
          accepted: false,
          status: 409,
          reason: `confirm refused: ${problem}; rbuddy waits for the standby's sync again`,
        };
      }
    }
    this.operator = request;
    this.lastOperatorRequest = {
      request,
      acceptedAt: new Date(this.now()).toISOString(),
      outcome: 'pending',
      reason: null,
    };
    this.wake();
    return { accepted: true };
  }

  /**
   * True while the active replica serves a dataset and the engine runs (for /readyz). False from
   * the first moment of a shutdown, so a load balancer stops routing here before the listeners
   * close.
   */
  ready(): boolean {
    const persisted = this.persisted;
    if (!this.running || persisted === undefined || !persisted.activeHoldsData) return false;
    const view = this.lastViews.find((candidate) => candidate.id === persisted.active);
    return view !== undefined && view.reachable && !view.loading;
  }

  /** True once {@link stop} was called. */
  get stopping(): boolean {
    return this.loaded && !this.running && this.loopDone !== undefined;
  }

  /** The persisted roles; while no state can be trusted, the ones the nodes show, if any. */
  roles(): Roles | undefined {
    const persisted = this.persisted;
    return persisted === undefined
      ? this.observedRoles
      : { active: persisted.active, standby: persisted.standby };
  }

  status(): EngineStatus {
    const persisted = this.persisted;
    return {
      state: this.currentState,
      reason: this.currentReason ?? null,
      epoch: persisted?.epoch ?? null,
      // What /active and discovery name, so that status never contradicts them.
      active: this.roles()?.active ?? null,
      standby: this.roles()?.standby ?? null,
      masterUp: this.options.probe.up,
      masterLostSince:
        this.masterLostSince === undefined ? null : new Date(this.masterLostSince).toISOString(),
      failover: persisted?.failover ?? null,
      lastFailover: persisted?.lastFailover ?? null,
      lastError: this.lastError ?? null,
      lastOperatorRequest:
        this.lastOperatorRequest === undefined ? null : { ...this.lastOperatorRequest },
      nodes: this.lastViews,
    };
  }

  /** The master probe's verdict changed. */
  readonly onMasterProbe = (up: boolean, error: string | undefined): void => {
    if (!up) this.noteMasterLost(`health probe failed: ${error ?? 'no answer'}`);
    this.wake();
  };

  // ---- the loop ------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (this.running) {
      let delay = this.options.tickMs ?? 250;
      if (this.corrupt === undefined) {
        try {
          // A failover that just began goes on at once: its promotion should not wait a tick.
          if (await this.tick()) delay = 0;
          this.failedActions = 0;
          this.lastError = undefined;
        } catch (error) {
          this.failedActions += 1;
          this.lastError = error instanceof Error ? error.message : String(error);
          const backoff = this.retry(this.failedActions - 1, error);
          delay = backoff === false ? 10_000 : Math.max(delay, backoff);
          this.log.warn(
            { err: error, attempt: this.failedActions, retryInMs: delay, state: this.currentState },
            'failover step failed; retrying',
          );
        }
      } else {
        // Nothing is decided on a state that cannot be read; the nodes are still read (view()
        // never throws), so that discovery keeps naming the one that serves.
        await this.startUp();
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, delay);
      });
      clearTimeout(this.timer);
      this.wakeUp = undefined;
    }
  }

  private settleOperatorRequest(request: OperatorRequest, decision: Decision): void {
    const record = this.lastOperatorRequest;
    if (record === undefined || record.request !== request || record.outcome !== 'pending') return;
    if (decision.actions.some((action) => CARRIES_OUT[request].includes(action.kind))) {
      record.outcome = 'carried-out';
      return;
    }
    record.outcome = 'dropped';
    record.reason = `the state became ${decision.state} before it ran${
      decision.reason === undefined ? '' : `: ${decision.reason}`
    }`;
    this.log.warn(
      { request, state: decision.state, reason: decision.reason },
      `operator ${request} request dropped: ${record.reason}`,
    );
  }

  private wake(): void {
    this.wakeUp?.();
  }

  /** One round of observe → decide → act; true when the next should follow at once. */
  private async tick(): Promise<boolean> {
    const persisted = this.persisted;
    if (persisted === undefined) return this.startUp();
    const byId = new Map(this.options.nodes.map((node) => [node.id, node]));
    const activeNode = byId.get(persisted.active);
    const standbyNode = byId.get(persisted.standby);
    if (activeNode === undefined || standbyNode === undefined) return false;

    const [active, standby] = await Promise.all([
      this.options.ops.view(activeNode),
      this.options.ops.view(standbyNode),
    ]);
    this.lastViews = [active, standby];
    this.refreshMasterLoss(persisted, active);

    const operator = this.operator;
    const refusedConfirm = this.refusedConfirm;
    const fullResyncDemanded = this.fullResyncDemanded;
    const observations: Observations = {
      now: this.now(),
      masterUp: this.options.probe.up,
      masterLostSince: this.masterLostSince,
      fullResyncDemanded,
      active,
      standby,
      activeSession: this.sessionView(activeNode),
      standbySession: this.sessionView(standbyNode),
      operator,
      refusedConfirm,
      syncAttemptStartedAt: this.syncAttemptStartedAt,
    };
    const decision = decide(persisted, observations, this.options.config);
    // Inputs are consumed once decided on, whatever happens to the actions.
    if (operator !== undefined) {
      this.operator = undefined;
      this.settleOperatorRequest(operator, decision);
    }
    if (fullResyncDemanded) this.fullResyncDemanded = false;
    if (refusedConfirm !== undefined) this.refusedConfirm = undefined;

    this.noteStandbyTrouble(persisted, standby);
    for (const action of decision.actions) {
      await this.act(action, persisted, activeNode, standbyNode);
    }
    this.transition(decision.state, decision.reason);
    return decision.actions.some((action) => action.kind === 'begin-failover');
  }

  /**
   * A round without a usable state. Both nodes are observed, so that discovery keeps naming the
   * one that serves reads. A corrupt file stops there (nothing is decided on it: SPEC §9); a
   * missing one is settled from what the nodes report (reconcile.ts) before anything is written
   * or done, so a lost state file is never taken for a first start. True once settled.
   */
  private async startUp(): Promise<boolean> {
    const { initialActive, initialStandby, ops } = this.options;
    const [active, standby] = await Promise.all([
      ops.view(initialActive),
      ops.view(initialStandby),
    ]);
    this.lastViews = [active, standby];
    this.observedRoles = servingRoles(active, standby);
    if (this.corrupt !== undefined) return false;
    const plan = reconcile(active, standby);
    if (plan.kind === 'wait') {
      this.transition(plan.state, plan.reason);
      return false;
    }
    if (plan.kind === 'adopt' && plan.detachStandby) {
      await ops.detach(this.nodeById(plan.standby.id));
    }
    const configured = { active: initialActive.id, standby: initialStandby.id };
    await this.save(
      settledState(plan, configured, new Date(this.now()).toISOString(), randomUUID()),
    );
    if (plan.kind === 'adopt') {
      this.log.warn(
        { active: plan.active.id, standby: plan.standby.id, reason: plan.reason },
        'no state file: adopted the roles the nodes show',
      );
    } else {
      this.log.info(
        { file: this.options.store.file },
        'first start: no state yet, and no node serves reads',
      );
    }
    return true;
  }

  // ---- observations ----------------------------------------------------------------------------

  private readonly onSessionEvent = (session: ReplicaSession, event: SessionEvent): void => {
    const nodeId = session.node.id;
    let track = this.tracks.get(nodeId);
    if (track === undefined || track.sessionId !== session.id) {
      track = {
        sessionId: session.id,
        syncBegun: false,
        streaming: false,
        ackedSinceStreaming: false,
      };
      this.tracks.set(nodeId, track);
    }
    switch (event.type) {
      case 'psync-reply':
        if (event.relayed && event.reply.kind === 'fullresync') track.syncBegun = true;
        break;
      case 'streaming':
        track.streaming = true;
        track.ackedSinceStreaming = false;
        break;
      case 'ack':
        if (track.streaming) track.ackedSinceStreaming = true;
        break;
      case 'upstream-lost':
        if (nodeId === this.persisted?.active && this.persisted.failover === null) {
          this.noteMasterLost(`the active's link to the master failed: ${event.error.message}`);
        }
        break;
      case 'closed': {
        // Only a sync that had begun and was cut short is a failure. A PSYNC refused because
        // the master is still away (-NOMASTERLINK, -LOADING) is the standby waiting, as SPEC §5
        // step 4 says it should.
        const interrupted = track.syncBegun && !(track.streaming && track.ackedSinceStreaming);
        track.syncBegun = false;
        track.streaming = false;
        track.ackedSinceStreaming = false;
        if (
          interrupted &&
          this.persisted?.failover?.step === 'syncing' &&
          nodeId === this.persisted.failover.incoming &&
          event.reason !== 'replaced'
        ) {
          this.announceStandbyFailure(`the standby's sync was interrupted (${event.reason})`);
        }
        break;
      }
      default:
        break;
    }
    this.wake();
  };

  private sessionView(node: ReplicaNode): SessionView {
    const session = this.options.proxy.sessionFor(node.id);
    const track = this.tracks.get(node.id);
    const current = session !== undefined && track?.sessionId === session.id ? track : undefined;
    return {
      phase: session?.phase,
      streamingAcked: current !== undefined && current.streaming && current.ackedSinceStreaming,
    };
  }

  private noteMasterLost(why: string): void {
    const persisted = this.persisted;
    if (persisted === undefined || !persisted.activeHoldsData) return;
    if (this.masterLostSince === undefined) {
      this.masterLostSince = this.now();
      this.log.warn({ why }, 'master lost');
    }
    if (!this.masterDownAnnounced) {
      this.masterDownAnnounced = true;
      this.emit('master.down', persisted, { reason: why });
    }
  }

  /** The master is back once the probe answers and, outside a failover, the active streams. */
  private refreshMasterLoss(persisted: PersistedState, active: NodeView): void {
    if (!this.options.probe.up) {
      if (persisted.activeHoldsData && persisted.failover === null) {
        this.noteMasterLost(`health probe failed: ${this.options.probe.lastError ?? 'no answer'}`);
      }
      return;
    }
    if (this.masterLostSince === undefined && !this.masterDownAnnounced) return;
    const activeStreams =
      active.linkUp && this.sessionView(this.nodeById(persisted.active)).phase === 'streaming';
    if (persisted.failover !== null || activeStreams) {
      this.masterLostSince = undefined;
      if (this.masterDownAnnounced) {
        this.masterDownAnnounced = false;
        this.emit('master.up', persisted, { reason: 'the master answers again' });
      }
    }
  }

  private noteStandbyTrouble(persisted: PersistedState, standby: NodeView): void {
    if (persisted.failover?.step !== 'syncing') {
      this.standbyFailureAnnounced = false;
      return;
    }
    if (!standby.reachable)
      this.announceStandbyFailure(`the standby is unreachable: ${standby.error ?? ''}`);
    else if (isSynced(standby, this.sessionView(this.nodeById(standby.id))))
      this.standbyFailureAnnounced = false;
  }

  private announceStandbyFailure(reason: string): void {
    const persisted = this.persisted;
    if (persisted === undefined || this.standbyFailureAnnounced) return;
    this.standbyFailureAnnounced = true;
    this.emit('failover.failed', persisted, { reason: `${reason}; retrying` });
  }

  // ---- actions ---------------------------------------------------------------------------------

  private async act(
    action: Action,
    persisted: PersistedState,
    activeNode: ReplicaNode,
    standbyNode: ReplicaNode,
  ): Promise<void> {
    const ops = this.options.ops;
    this.log.info({ action: action.kind }, 'failover action');
    switch (action.kind) {
      case 'attach-active':
        await ops.attach(activeNode);
        return;
      case 'prepare-standby': {
        await ops.detach(standbyNode);
        if (action.flush) {
          this.log.warn({ node: standbyNode.id }, 'flushing the standby (--init-flush-standby)');
          // The write guard refuses FLUSHALL too: lift ours first (guard-standby sets it again).
          const saved = persisted.standbySavedConfig;
          if (saved !== undefined && saved !== null) await ops.restoreConfig(standbyNode, saved);
          await ops.flush(standbyNode);
        }
        return;
      }
      case 'mark-active-holds-data':
        // In memory first: the gate must protect the dataset from this moment, not from when
        // the write lands (a failed write only errs on the side of protection).
        this.persisted = { ...persisted, activeHoldsData: true };
        await this.save(this.persisted);
        this.log.info({ active: activeNode.id }, 'the active replica holds its dataset');
        return;
      case 'begin-failover': {
        // The outgoing node's settings are on disk before anything changes them.
        const savedConfig = await this.originalSettings(activeNode);
        const at = new Date(this.now()).toISOString();
        const record: FailoverRecord = {
          id: randomUUID(),
          kind: action.failoverKind,
          reason: action.reason,
          startedAt: at,
          outgoing: activeNode.id,
          incoming: standbyNode.id,
          step:
            action.failoverKind === 'unplanned' && action.promote !== false
              ? 'promoting'
              : 'syncing',
          savedConfig,
          verifiedAt: null,
          timeline: [{ step: 'started', at, detail: action.reason }],
        };
        await this.save({ ...persisted, failover: record });
        this.log.warn(
          { failover: record.id, kind: record.kind, reason: record.reason },
          'failover started',
        );
        return;
      }
      case 'promote': {
        await ops.guardWrites(activeNode);
        await ops.detach(activeNode);
        this.options.proxy.sessionFor(activeNode.id)?.close('gated');
        // The promotion is retried with the standby's attach (same step) until that succeeds:
        // announce it once per failover, not once per retry.
        const failoverId = persisted.failover?.id;
        if (this.promotedAnnounced !== failoverId) {
          this.promotedAnnounced = failoverId;
          this.emit('active.promoted', this.persistedNow(), {
            reason: 'the active serves its data, detached from the master',
          });
        }
        return;
      }
      case 'guard-standby': {
        const current = this.persistedNow();
        if (current.standbySavedConfig === undefined || current.standbySavedConfig === null) {
          // Saved before the guard is set: a restart in between never takes our guard values
          // for the node's own.
          const saved = await this.originalSettings(standbyNode);
          await this.save({ ...current, standbySavedConfig: saved });
        }
        await ops.guardWrites(standbyNode);
        this.log.info({ node: standbyNode.id }, 'the idle standby refuses writes');
        return;
      }
      case 'attach-standby': {
        await ops.attach(standbyNode);
        const current = this.persistedNow();
        const record = current.failover;
        if (record === null) return;
        await this.save({
          ...current,
          failover: {
            ...record,
            step: 'syncing',
            timeline: this.stamp(record, 'standby-attached'),
          },
        });
        this.syncAttemptStartedAt = this.now();
        this.standbyFailureAnnounced = false;
        this.emit('standby.attached', this.persistedNow(), {});
        return;
      }
      case 'restart-standby-sync':
        this.emit('failover.failed', persisted, { reason: `${action.reason}; retrying` });
        await ops.detach(standbyNode);
        await ops.attach(standbyNode);
        this.syncAttemptStartedAt = this.now();
        return;
      case 'hold': {
        await this.saveFailover(
          persisted,
          { step: 'held', syncedRunId: action.syncedRunId ?? null },
          { step: 'synced' },
          { step: 'held', detail: action.reason },
        );
        this.emit('standby.synced', this.persistedNow(), {});
        this.emit('failover.held', this.persistedNow(), {
          reason: action.reason,
          activeKeys: action.activeKeys,
          standbyKeys: action.standbyKeys,
        });
        return;
      }
      case 'resume-sync': {
        await this.saveFailover(
          persisted,
          { step: 'syncing', syncedRunId: null },
          { step: 'resync', detail: action.reason },
        );
        this.syncAttemptStartedAt = this.now();
        this.standbyFailureAnnounced = false;
        this.emit('failover.failed', this.persistedNow(), {
          reason: `${action.reason}; waiting for the standby's sync again`,
        });
        return;
      }
      case 'switch': {
        const record = this.requireFailover(persisted);
        const alreadySynced = record.timeline.some((entry) => entry.step === 'synced');
        // The incoming node's own settings are back before it is the active (a restart before
        // the write below restores them again: same values).
        const incomingSaved = persisted.standbySavedConfig;
        if (incomingSaved !== undefined && incomingSaved !== null) {
          await ops.restoreConfig(standbyNode, incomingSaved);
        }
        const switched: PersistedState = {
          ...persisted,
          epoch: persisted.epoch + 1,
          active: record.incoming,
          standby: record.outgoing,
          activeHoldsData: true,
          // The outgoing node's settings are the failover record's until it is retired.
          standbySavedConfig: null,
          failover: {
            ...record,
            step: 'switched',
            verifiedAt: new Date(this.now()).toISOString(),
            timeline: this.stamp(record, ...(alreadySynced ? [] : ['synced']), 'switched'),
          },
        };
        const events = [
          ...(alreadySynced ? [] : [this.event('standby.synced', switched, {})]),
          this.event('failover.completed', switched, {
            reason: record.reason,
            previousActive: record.outgoing,
          }),
        ];
        // I3: the new roles are on disk before any event announces them — and the events
        // themselves with them, in the same atomic write: a kill -9 before the outbox has them
        // cannot lose them (SPEC §6).
        await this.save({ ...switched, unannounced: [...(switched.unannounced ?? []), ...events] });
        await this.announce(events);
        return;
      }
      case 'retire-outgoing': {
        const record = this.requireFailover(persisted);
        // I2: flush only the node the persisted state names the outgoing active of this epoch,
        // with the other node verified synced.
        if (
          record.step !== 'switched' ||
          record.outgoing !== persisted.standby ||
          record.incoming !== persisted.active ||
          record.verifiedAt === null ||
          record.outgoing !== standbyNode.id
        ) {
          throw new Error(
            `refusing to flush ${standbyNode.id}: the persisted state does not name it the outgoing active`,
          );
        }
        const outgoing = standbyNode;
        const view = await ops.view(outgoing);
        if (view.role === 'slave') {
          // Planned failover: the outgoing node still replicates; guard it, then detach it.
          await ops.guardWrites(outgoing);
          await ops.detach(outgoing);
        }
        await ops.killClients(outgoing);
        // The write guard refuses FLUSHALL too (-NOREPLICAS): restore the node's own settings
        // first. Its clients were just killed and it is no longer announced, so nothing lands
        // in between that the flush would not take.
        if (record.savedConfig !== null) await ops.restoreConfig(outgoing, record.savedConfig);
        // Already empty: a restart after the flush but before the write below; never twice.
        if (view.keys > 0) await ops.flush(outgoing);
        // The new standby: guarded again at once, its own settings kept for when it is the active.
        if (record.savedConfig !== null) await ops.guardWrites(outgoing);
        const endedAt = new Date(this.now()).toISOString();
        const done = { ...record, timeline: this.stamp(record, 'flushed', 'standby-ready') };
        await this.save({
          ...persisted,
          standbySavedConfig: record.savedConfig,
          failover: null,
          lastFailover: { ...done, endedAt, result: 'completed' },
        });
        // The new active synced from a live master: whatever loss started this failover is over.
        this.masterLostSince = undefined;
        this.emit('standby.ready', this.persistedNow(), {
          reason: `${outgoing.id} is the new standby`,
        });
        return;
      }
      case 'abort': {
        const record = this.requireFailover(persisted);
        await ops.detach(standbyNode);
        await this.save({
          ...persisted,
          failover: { ...record, step: 'aborted', timeline: this.stamp(record, 'aborted') },
        });
        this.emit('failover.failed', this.persistedNow(), { reason: 'aborted by an operator' });
        return;
      }
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /**
   * A node's own values of the guarded settings. Our guard values are never taken for its own
   * (a state dir lost while the node was guarded): Redis's defaults stand in for them.
   */
  private async originalSettings(node: ReplicaNode): Promise<SavedConfig> {
    const settings = await this.options.ops.configGet(node);
    if (!isWriteGuard(settings)) return settings;
    this.log.warn(
      { node: node.id, settings },
      "the node holds rbuddy's write guard but no original settings are saved: Redis's defaults will be restored",
    );
    return { ...REDIS_DEFAULTS };
  }

  /** Why the held standby is not verified synced by the latest observations, if it is not. */
  private heldStandbyProblemNow(): string | undefined {
    const record = this.persisted?.failover;
    if (record === null || record === undefined) return 'no failover is held';
    const view = this.lastViews.find((candidate) => candidate.id === record.incoming);
    if (view === undefined) return 'the standby was not observed yet';
    return heldStandbyProblem(record, view, this.sessionView(this.nodeById(record.incoming)))?.why;
  }

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

  private async save(state: PersistedState): Promise<void> {
    await this.options.store.save(state);
    this.persisted = state;
  }

  private persistedNow(): PersistedState {
    if (this.persisted === undefined) throw new Error('no state');
    return this.persisted;
  }

  private requireFailover(persisted: PersistedState): FailoverRecord {
    if (persisted.failover === null) throw new Error('no failover in progress');
    return persisted.failover;
  }

  /** Saves the failover record with `changes`, its timeline stamped with `entries`. */
  private async saveFailover(
    persisted: PersistedState,
    changes: Partial<Pick<FailoverRecord, 'step' | 'syncedRunId'>>,
    ...entries: Omit<TimelineEntry, 'at'>[]
  ): Promise<void> {
    const record = this.requireFailover(persisted);
    const at = new Date(this.now()).toISOString();
    const timeline = [...record.timeline, ...entries.map((entry) => ({ ...entry, at }))];
    await this.save({ ...persisted, failover: { ...record, ...changes, timeline } });
  }

  private stamp(record: FailoverRecord, ...steps: string[]): FailoverRecord['timeline'] {
    const at = new Date(this.now()).toISOString();
    return [...record.timeline, ...steps.map((step) => ({ step, at }))];
  }

  private nodeById(id: string): ReplicaNode {
    const node = this.options.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`unknown node ${id}`);
    return node;
  }

  private emit(type: EventType, persisted: PersistedState, extra: Partial<EventData>): void {
    this.options.bus.emit(type, persisted.epoch, this.eventData(persisted, extra));
  }

  /** An event stamped but not sent yet, to be saved with the state it announces. */
  private event(
    type: EventType,
    persisted: PersistedState,
    extra: Partial<EventData>,
  ): RbuddyEvent {
    return this.options.bus.create(type, persisted.epoch, this.eventData(persisted, extra));
  }

  private eventData(persisted: PersistedState, extra: Partial<EventData>): EventData {
    return {
      active: persisted.active,
      standby: persisted.standby,
      master: this.options.masterId,
      ...extra,
    };
  }

  /**
   * Sends events that were saved in the state (`unannounced`) and, once every durable sink (the
   * webhook outboxes) has them on disk, drops them from the state. If that does not happen — the
   * outbox cannot be written, or takes longer than ANNOUNCE_TIMEOUT_MS — they stay in the state
   * and the next start sends them again, with the same ids; the failover goes on either way.
   */
  private async announce(events: readonly RbuddyEvent[]): Promise<void> {
    const ids = new Set(events.map((event) => event.id));
    try {
      await this.options.bus.sendAll(events, ANNOUNCE_TIMEOUT_MS);
    } catch (error) {
      this.log.warn(
        { err: error, events: [...ids] },
        'events not confirmed in the outbox: kept in the state, sent again at the next start',
      );
      return;
    }
    const current = this.persistedNow();
    try {
      await this.save({
        ...current,
        unannounced: (current.unannounced ?? []).filter((event) => !ids.has(event.id)),
      });
    } catch (error) {
      // Only costs a second copy (same ids) after a restart; the outbox has them.
      this.log.warn({ err: error, events: [...ids] }, 'could not mark events as sent');
    }
  }
}
