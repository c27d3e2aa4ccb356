// One instance of a group run on etcd (docs/ha.md): a follower until the Coordination elects it,
// the leader until it is deposed, and back. While it leads it runs a term: its own failover engine
// on the group's state in etcd, fenced by the Coordination's mayAct(), and its own master probe;
// the term begins with the takeover (takeover.ts), whose rounds go on at polls whenever a replica
// follows another instance of the group again (repoint-round.ts), and ends the moment the instance
// is deposed — probe stopped, engine stopped, the engine's fence shut, so no step starts after that
// (a relay session still open may go on relaying bytes). A follower keeps its listeners open, holds
// every replica's sync (-NOMASTERLINK: the replica retries, and reaches the leader once the leader
// points it there) and answers discovery from the state in etcd, read every poll, for as long as
// that read is fresh (view-freshness.ts); so does a leader whose lease may have lapsed. Leadership
// stands where the engine stands in a single instance: the app, the proxy's gate, the admin API and
// discovery use it through the same methods.
import type { Logger } from 'pino';
import type { DurableSink, RbuddyEvent } from '../notify/events.js';
import type { WebhookStatus } from '../notify/webhooks.js';
import type { FullSyncStart, SessionInfo } from '../proxy/session-types.js';
import type { OperatorRequest } from '../standby/decide.js';
import type { EngineStatus, FailoverEngine } from '../standby/engine.js';
import type { OperatorAnswer } from '../standby/operator-requests.js';
import type { SessionSource } from '../standby/ports.js';
import { epochSwitch, type EpochSwitch } from '../standby/persisted-state.js';
import type { Roles } from '../standby/reconcile.js';
import type { PersistedState } from '../standby/persisted-state.js';
import { unusableReason } from '../standby/state-store.js';
import type { EngineState } from '../standby/states.js';
import { followerStatus } from './follower-view.js';
import { repointRound, roundDue, type RepointContext } from './repoint-round.js';
import { addressKey } from './takeover.js';
import { FollowedState } from './followed-state.js';
import { termStartState } from './term-start-state.js';
import type {
  GroupEngine,
  LeadershipOptions,
  LeadershipStatus,
  SessionListener,
  Term,
} from './term.js';

export type {
  GroupEngine,
  LeadershipOptions,
  LeadershipStatus,
  TermProbe,
  TermWebhooks,
} from './term.js';

export class Leadership implements GroupEngine, DurableSink {
  private readonly options: LeadershipOptions;
  private readonly log: Logger;
  private term: Term | undefined;
  /** The group's state as read every poll: a follower answers discovery from it. */
  private readonly followed: FollowedState;
  /** Terms begin and end one after the other: an engine is stopped before the next loads. */
  private transitions: Promise<void> = Promise.resolve();
  private listening = false;
  private stopped = false;
  /**
   * The fence of the last 'elected' event: an election seen before the listeners opened starts
   * its term later (start(), poll()), and its log must still name the fence it holds.
   */
  private electedFence = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** Announce addresses of the group's other instances, as seen since this one started. */
  private readonly otherInstances = new Set<string>();

  constructor(options: LeadershipOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'leadership' });
    // Its own lease, or the group's if shorter: the leader flushes a lease and a fifth after a
    // switch by the group's lease (every leader has it: another one never campaigns).
    const groupLease = (): number =>
      Math.min(options.leaseMs, options.coordination.groupLeaseMs() ?? Number.POSITIVE_INFINITY);
    this.followed = new FollowedState(groupLease, this.log, options.now);
    options.coordination.on('elected', this.onElected);
    options.coordination.on('deposed', this.onDeposed);
    options.sessions.on('session-event', (session, event) => {
      const term = this.term;
      if (term?.live === true) for (const listener of term.listeners) listener(session, event);
    });
  }

  /** Joins the group (registers, campaigns) and reads its state once. */
  async load(): Promise<void> {
    await this.options.coordination.start();
    await this.poll();
  }

  /** Listeners are open: an election may take over from now on; polling starts. */
  async start(): Promise<void> {
    this.listening = true;
    this.options.coordination.listening?.();
    this.schedulePoll();
    if (this.options.coordination.status().leader) this.onElected(0);
    await Promise.resolve();
  }

  /** Ends any term and resigns, so that another instance takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    this.endTerm('shutting down');
    await this.transitions;
    this.options.coordination.off('elected', this.onElected);
    this.options.coordination.off('deposed', this.onDeposed);
    await this.options.coordination.close();
  }

  get stopping(): boolean {
    return this.stopped;
  }

  get state(): EngineState {
    return this.status().state;
  }

  private engine(): FailoverEngine | undefined {
    // Before its engine has read the state, a new leader still answers from what it followed:
    // an engine without a state would name no active (GET /active 503) in the meantime.
    return this.term?.live === true && this.term.loaded ? this.term.engine : undefined;
  }

  /**
   * The engine whose view names nodes: only while this instance may act. A leader whose lease
   * may have lapsed (woken from a pause before its deadline timer ran) answers as a follower does.
   */
  private naming(): FailoverEngine | undefined {
    return this.options.coordination.mayAct() ? this.engine() : undefined;
  }

  /** The view a follower names nodes from: the last valid state read, while it is fresh. */
  private freshView(): PersistedState | undefined {
    return this.followed.freshView();
  }

  readonly gate = (session: SessionInfo, start: FullSyncStart): 'relay' | 'close' =>
    this.engine()?.gate(session, start) ?? 'close';

  /** A follower holds every sync: the replica retries until the leader points it there. */
  readonly holdsSync = (id: string): boolean => this.engine()?.holdsSync(id) ?? true;

  readonly onMasterProbe = (up: boolean, error: string | undefined): void => {
    this.engine()?.onMasterProbe(up, error);
  };

  /** The leader: its engine's; a follower: the state last read from etcd, while fresh. */
  roles(): Roles | undefined {
    const engine = this.naming();
    if (engine !== undefined) return engine.roles();
    const view = this.freshView();
    return view === undefined ? undefined : { active: view.active, standby: view.standby };
  }

  /** Why roles() names no node although a state was read: the view may be stale. */
  rolesUnknown(): string | undefined {
    return this.naming() === undefined ? this.followed.staleness() : undefined;
  }

  /** The leader: its engine's; a follower: the switch that made the epoch stored in etcd. */
  currentSwitch(): EpochSwitch | undefined {
    const engine = this.naming();
    if (engine !== undefined) return engine.currentSwitch();
    const view = this.freshView();
    return view === undefined ? undefined : epochSwitch(view);
  }

  request(request: OperatorRequest): OperatorAnswer {
    const engine = this.engine();
    if (engine !== undefined) return engine.request(request);
    const leader = this.options.coordination.status().leaderAnnounce;
    return {
      accepted: false,
      reason: `this instance does not lead the group: ask the leader (${leader ?? 'none elected yet'})`,
    };
  }

  ready(): boolean {
    return this.notReady() === undefined;
  }

  /**
   * Why not ready (/readyz 503). The leader: its engine's verdict; a follower: ready while the
   * state in etcd shows an active serving, and its view of it is fresh enough to name it.
   */
  notReady(): string | undefined {
    if (this.stopped) return 'shutting down';
    const engine = this.naming();
    if (engine !== undefined) return engine.notReady();
    const loaded = this.followed.loaded;
    const problem = this.options.coordination.status().problem;
    if (problem !== null) return problem;
    if (loaded?.kind !== 'ok') return `no state read from etcd (${loaded?.kind ?? 'not read yet'})`;
    if (!loaded.state.activeHoldsData) {
      return `the active ${loaded.state.active} holds no dataset yet (its first sync)`;
    }
    return this.followed.staleness();
  }

  status(): EngineStatus {
    const coordination = this.options.coordination.status();
    const engine = this.naming();
    if (engine === undefined) {
      return followerStatus({
        loaded: this.followed.loaded,
        lastGood: this.followed.lastGood,
        problem: coordination.problem,
        stale: this.followed.staleness() ?? null,
        leaderAnnounce: coordination.leaderAnnounce,
        selfLeads: coordination.leader,
        report: this.options.coordination.leaderReport(),
      });
    }
    return this.leaderStatus(engine);
  }

  private leaderStatus(engine: FailoverEngine): EngineStatus {
    const problem = this.options.coordination.status().problem;
    const status = engine.status();
    // A leader that cannot renew its lease acts no more: say so, whatever its engine thinks.
    return problem === null ? status : { ...status, state: 'degraded', reason: problem };
  }

  leadership(): LeadershipStatus {
    return {
      ...this.options.coordination.status(),
      peers: [...this.options.coordination.peers()],
    };
  }

  /** The master probe of the current term (its last error, for status). */
  probeError(): string | null {
    return this.term?.live === true ? (this.term.probe.lastError ?? null) : null;
  }

  /** The bus's durable sink: the current term's outbox; without a term, nothing may be stored. */
  store(event: RbuddyEvent): Promise<void> {
    const term = this.term;
    if (term?.live !== true) {
      return Promise.reject(new Error('this instance does not lead: it sends no events'));
    }
    return term.webhooks?.store(event) ?? Promise.resolve();
  }

  webhookStatus(): WebhookStatus[] {
    return this.term?.live === true ? (this.term.webhooks?.status() ?? []) : [];
  }

  reconnectProbe(): void {
    if (this.term?.live === true) this.term.probe.reconnect();
  }

  // ---- terms -----------------------------------------------------------------------------------

  private readonly onElected = (fence: number): void => {
    if (fence !== 0) this.electedFence = fence;
    if (!this.listening || this.stopped || this.term !== undefined) return;
    this.log.info(
      { fence: this.electedFence },
      'elected: this instance leads the group; taking over',
    );
    const listeners: SessionListener[] = [];
    const sessions: SessionSource = {
      sessionFor: (id) => this.options.sessions.sessionFor(id),
      on: (_event, listener) => listeners.push(listener),
    };
    const coordination = this.options.coordination;
    const mayAct = (): boolean => term.live && coordination.mayAct();
    const built = this.options.buildTerm(sessions, mayAct);
    const term: Term = {
      ...built,
      live: true,
      settled: false,
      pastLeaders: [],
      leftAlone: new Set(),
      foreign: new Set(),
      loaded: false,
      running: false,
      unusable: undefined,
      listeners,
    };
    this.term = term;
    this.transitions = this.transitions.then(() => this.begin(term));
  };

  private readonly onDeposed = (reason: string): void => {
    this.endTerm(reason);
  };

  private async begin(term: Term): Promise<void> {
    const unreadable = (error: unknown): void => {
      // Never acted on: a state that could not be read is not a missing one (a first start
      // would be reconciled over it). The term ends; the next poll begins another.
      this.log.error({ err: error }, "reading the group's state failed: not taking over yet");
      this.endTerm('the state could not be read');
    };
    try {
      // Before any node is touched: a replica this leader repoints can then be found by a later
      // leader that never sees this one registered (it died before that one started).
      term.pastLeaders = await this.options.coordination.recordLeadership();
    } catch (error) {
      // The next poll begins another term while this instance still leads (a deposed one's
      // term has ended already).
      this.log.error({ err: error }, 'recording this leader in etcd failed: not taking over yet');
      if (this.term === term) this.endTerm('this leader could not be recorded');
      return;
    }
    try {
      // Before the engine loads: events its state still lists as unsent go into a loaded outbox.
      await term.webhooks?.start();
      // Read here as well as by the engine: a state that cannot be trusted (garbage in the key,
      // other nodes, one no leader wrote) says nothing of which replica follows whom, so no
      // takeover is made on it.
      term.unusable = unusableReason(
        await termStartState(this.options.coordination.store, this.followed, this.log),
        this.nodeIds(),
      );
    } catch (error) {
      unreadable(error);
      return;
    }
    if (!term.live) return;
    if (term.unusable === undefined) {
      await this.takeOver(term).catch((error: unknown) => {
        this.log.warn({ err: error }, 'takeover round failed; the next poll retries it');
      });
    } else {
      this.log.error({ why: term.unusable }, 'not taking over: the state cannot be trusted');
    }
    if (!term.live) return;
    try {
      // After the takeover: the engine's first look at the nodes sees them follow this instance,
      // as its rounds will, so that a state they contradict (an older one put back) is judged
      // from the first answer (docs/design.md, "Restart and reconciliation"). Until then every
      // sync is held and discovery answers as a follower.
      await term.engine.load();
    } catch (error) {
      unreadable(error);
      return;
    }
    term.loaded = true;
    if (!term.live) return;
    await term.engine.start();
    term.probe.start();
    term.running = true;
  }

  /** Ends the current term at once: nothing is started or changed by it from here on. */
  private endTerm(reason: string): void {
    const term = this.term;
    if (term === undefined) return;
    term.live = false;
    this.term = undefined;
    term.probe.stop();
    // In flight: its removal from the outbox is fenced, so the next leader sends it again.
    void term.webhooks?.close();
    this.log.warn({ reason }, 'no longer leading: the engine and the probe stop; following');
    this.transitions = this.transitions.then(() => term.engine.stop());
  }

  /**
   * Points the replicas that follow another instance of the group at this one (a round), between
   * two of the engine's rounds: its REPLICAOFs never interleave with a round's commands to the
   * same node (a promotion's REPLICAOF NO ONE, say).
   */
  private async takeOver(term: Term): Promise<void> {
    await term.engine.between(() => repointRound(term, this.repointContext()));
  }

  private repointContext(): RepointContext {
    const { coordination, nodes, ops, checkAddress } = this.options;
    return {
      own: coordination.self.announce,
      others: this.otherInstances,
      nodes,
      ops,
      checkAddress,
      mayAct: () => coordination.mayAct(),
      log: this.log,
    };
  }

  /** The leader publishes its live state for the followers (each poll; written when changed). */
  private report(): void {
    const engine = this.engine();
    if (engine === undefined) return;
    const { state, reason, masterUp, epoch } = this.leaderStatus(engine);
    this.options.coordination.publishReport({ state, reason, masterUp, epoch });
  }

  private nodeIds(): string[] {
    return this.options.nodes.map((node) => node.id);
  }

  // ---- polling etcd ------------------------------------------------------------------------------

  private schedulePoll(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => this.schedulePoll());
    }, this.options.pollMs);
  }

  /** Reads the state and the instances; retries an unsettled takeover. Never throws. */
  private async poll(): Promise<void> {
    const coordination = this.options.coordination;
    for (const peer of coordination.peers()) this.otherInstances.add(addressKey(peer.announce));
    const leader = coordination.status().leaderAnnounce;
    if (leader !== null) this.otherInstances.add(addressKey(leader));
    try {
      const reported = {
        epoch: coordination.leaderReport()?.epoch ?? null,
        live: coordination.renewedLeaderReport()?.epoch ?? null,
      };
      // A running term's engine reports a state that is not the one it saved, as it writes it back.
      const quiet = this.term?.running === true && this.term.unusable === undefined;
      await this.followed.read(coordination.store, reported, quiet);
    } catch (error) {
      // Kept: the last state read still names the active until it is older than the lease;
      // status says why etcd is not read.
      this.log.debug({ err: error }, "reading the group's state failed");
    }
    const current = this.term;
    if (current?.live === true && current.running && current.unusable !== undefined) {
      // The term refused the state it began on: once the key reads well again, a new term reads
      // it and takes over, with no restart (the engine reads its state only once).
      const now = this.followed.loaded;
      if (now !== undefined && unusableReason(now, this.nodeIds()) === undefined) {
        this.endTerm("the group's state reads well again: beginning a new term on it");
      }
    }
    if (current?.live === true && current.running && current.unusable === undefined) {
      // The group's state is this leader's record: deleted or set back under it, it is written
      // again (fenced), so that followers answer from it.
      await current.engine.keepStored().catch((error: unknown) => {
        this.log.warn(
          { err: error },
          "checking the group's state in etcd failed; the next poll retries",
        );
      });
    }
    this.report();
    const term = this.term;
    if (term === undefined && this.listening && !this.stopped && coordination.status().leader) {
      this.onElected(0);
    } else if (
      term?.live === true &&
      term.running &&
      term.unusable === undefined &&
      roundDue(term, this.repointContext())
    ) {
      // Until the takeover is done, and whenever a replica follows another instance again.
      await this.takeOver(term).catch((error: unknown) => {
        this.log.warn({ err: error }, 'repointing round failed; retrying at the next poll');
      });
    }
  }
}
