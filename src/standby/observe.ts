// What the failover engine remembers between rounds of what it observed: each replica session's
// sync progress (from the proxy's session events), since when the master counts as lost, and
// whether the loss and a failing standby sync were announced already. decide() gets it as
// Observations; nothing here writes the state or acts on a node.
import type { Logger } from 'pino';
import type { EventData, EventType } from '../notify/events.js';
import type { SessionEvent } from '../proxy/session-types.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { isSynced, MASTER_LOST_REASON } from './decide.js';
import type { NodeView, SessionView } from './node-view.js';
import type { PersistedState } from './persisted-state.js';
import type { MasterHealth, SessionHandle, SessionSource } from './ports.js';

export interface ObserverOptions {
  sessions: SessionSource;
  probe: MasterHealth;
  nodeById: (id: string) => ReplicaNode;
  /** The persisted state as the engine holds it (undefined while none can be trusted). */
  persisted: () => PersistedState | undefined;
  /** Announces the persisted state as it is (the engine's one way to send an event). */
  announce: (type: EventType, data: Partial<EventData>) => void;
  /** Something changed: the engine's next round should not wait for its tick. */
  wake: () => void;
  now: () => number;
  log: Logger;
}

interface SessionTrack {
  sessionId: string;
  /** The master answered +FULLRESYNC and it was relayed: a full sync is under way. */
  syncBegun: boolean;
  streaming: boolean;
  ackedSinceStreaming: boolean;
}

export class FailoverObserver {
  private readonly options: ObserverOptions;
  private readonly tracks = new Map<string, SessionTrack>();
  private lostSince: number | undefined;
  private masterDownAnnounced = false;
  private standbyFailureAnnounced = false;
  /** When the current attempt to sync the incoming node began. */
  syncAttemptStartedAt: number | undefined;

  constructor(options: ObserverOptions) {
    this.options = options;
    options.sessions.on('session-event', this.onSessionEvent);
  }

  /** Since when the master counts as lost (by the probe or the active's session), if it does. */
  get masterLostSince(): number | undefined {
    return this.lostSince;
  }

  /** The new active synced from a live master: whatever loss started the failover is over. */
  masterLossOver(): void {
    this.lostSince = undefined;
  }

  /** A failure of the incoming node's sync may be announced again. */
  clearStandbyFailure(): void {
    this.standbyFailureAnnounced = false;
  }

  /** The proxy's own view of a replica's current session. */
  sessionView(node: ReplicaNode): SessionView {
    const session = this.options.sessions.sessionFor(node.id);
    const track = this.tracks.get(node.id);
    const current = session !== undefined && track?.sessionId === session.id ? track : undefined;
    return {
      phase: session?.phase,
      streamingAcked: current !== undefined && current.streaming && current.ackedSinceStreaming,
    };
  }

  noteMasterLost(why: string): void {
    const persisted = this.options.persisted();
    if (persisted === undefined || !persisted.activeHoldsData) return;
    if (this.lostSince === undefined) {
      this.lostSince = this.options.now();
      this.options.log.warn({ why }, 'master lost');
    }
    if (!this.masterDownAnnounced) {
      this.masterDownAnnounced = true;
      // A failover begun on this outage (resumed after a restart or a takeover): its master.down
      // went out when it began; another, under a new id, would be a second event for one outage.
      const failover = persisted.failover;
      const announced =
        failover?.kind === 'unplanned' && failover.reason.startsWith(MASTER_LOST_REASON);
      if (!announced) this.options.announce('master.down', { reason: why });
    }
  }

  /** The master is back once the probe answers and, outside a failover, the active streams. */
  refreshMasterLoss(persisted: PersistedState, active: NodeView): void {
    const { probe } = this.options;
    if (!probe.up) {
      if (persisted.activeHoldsData && persisted.failover === null) {
        this.noteMasterLost(`health probe failed: ${probe.lastError ?? 'no answer'}`);
      }
      return;
    }
    if (this.lostSince === undefined && !this.masterDownAnnounced) return;
    const activeStreams =
      active.linkUp &&
      this.sessionView(this.options.nodeById(persisted.active)).phase === 'streaming';
    if (persisted.failover !== null || activeStreams) {
      this.lostSince = undefined;
      if (this.masterDownAnnounced) {
        this.masterDownAnnounced = false;
        this.options.announce('master.up', { reason: 'the master answers again' });
      }
    }
  }

  noteStandbyTrouble(persisted: PersistedState, standby: NodeView): void {
    if (persisted.failover?.step !== 'syncing') {
      this.standbyFailureAnnounced = false;
      return;
    }
    if (!standby.reachable)
      this.announceStandbyFailure(`the standby is unreachable: ${standby.error ?? ''}`);
    else if (isSynced(standby, this.sessionView(this.options.nodeById(standby.id))))
      this.standbyFailureAnnounced = false;
  }

  private announceStandbyFailure(reason: string): void {
    if (this.options.persisted() === undefined || this.standbyFailureAnnounced) return;
    this.standbyFailureAnnounced = true;
    this.options.announce('failover.failed', { reason: `${reason}; retrying` });
  }

  private readonly onSessionEvent = (session: SessionHandle, event: SessionEvent): void => {
    const nodeId = session.node.id;
    let track = this.tracks.get(nodeId);
    if (track === undefined || track.sessionId !== session.id) {
      // Usually the session's first event, in phase `handshake`. But a session may have begun
      // before this engine existed — a leader deposed while its relay went on, then elected
      // again, runs a new engine (docs/ha.md, "Takeover") — and its `streaming` event is then
      // long past: the session is taken as its phase says, so its next ACK counts.
      const phase = session.phase;
      track = {
        sessionId: session.id,
        syncBegun: phase === 'waiting-snapshot' || phase === 'snapshot',
        streaming: phase === 'streaming',
        ackedSinceStreaming: false,
      };
      this.tracks.set(nodeId, track);
    }
    const persisted = this.options.persisted();
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
        if (nodeId === persisted?.active && persisted.failover === null) {
          this.noteMasterLost(`the active's link to the master failed: ${event.error.message}`);
        }
        break;
      case 'closed': {
        // Only a sync that had begun and was cut short is a failure. A PSYNC refused because
        // the master is still away (-NOMASTERLINK, -LOADING) is the standby waiting, as it
        // should while the master is away (docs/design.md, "Roles and states").
        const interrupted = track.syncBegun && !(track.streaming && track.ackedSinceStreaming);
        track.syncBegun = false;
        track.streaming = false;
        track.ackedSinceStreaming = false;
        if (
          interrupted &&
          persisted?.failover?.step === 'syncing' &&
          nodeId === persisted.failover.incoming &&
          event.reason !== 'replaced'
        ) {
          this.announceStandbyFailure(`the standby's sync was interrupted (${event.reason})`);
        }
        break;
      }
      default:
        break;
    }
    this.options.wake();
  };
}
