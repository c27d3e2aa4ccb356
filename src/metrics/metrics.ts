// Prometheus metrics for GET /metrics. One Registry per app, never prom-client's global one: tests
// run several apps in one process, and each must report only its own numbers. Gauges are filled
// lazily by collect() callbacks that read the app's status at scrape time; counters are driven by
// events (failovers), by the notification channels (notification()), and by the relay sessions'
// byte counts, accumulated as deltas (RelayByteCounter) so the counter never goes down when a
// session closes and a new one starts from zero.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ENGINE_STATES, type EngineState } from '../standby/states.js';
import {
  NOTIFICATION_CHANNELS,
  NOTIFICATION_RESULTS,
  type NotificationChannel,
  type NotificationResult,
  type RbuddyEvent,
} from '../notify/events.js';
import type { SessionPhase, SessionStatus } from '../proxy/session-types.js';

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const SESSION_PHASES = [
  'handshake',
  'waiting-snapshot',
  'snapshot',
  'streaming',
  'closed',
] as const satisfies readonly SessionPhase[];

/** How often the event-loop delay is sampled (see the constructor). */
const EVENT_LOOP_SAMPLE_MS = 100;

/** What the metrics read from the app at scrape time. */
export interface MetricsSource {
  status(): {
    state: EngineState;
    epoch: number | null;
    masterUp: boolean;
    failover: { startedAt: string } | null;
    sessions: readonly SessionStatus[];
    /** Failed writes of state.json since the process started (absent: none counted). */
    stateStore?: { failedWrites: number };
    /** The RESP port's clients: refusals and closes by reason, the input budget held. */
    clients?: {
      refused: Readonly<Record<string, number>>;
      closed: Readonly<Record<string, number>>;
      input: { heldBytes: number };
    };
    /** With --etcd: whether this instance leads, its lease, its takeovers. */
    leader?: boolean;
    lease?: { remainingMs: number | null };
    takeovers?: number;
    notifications?: { webhooks: ReadonlyArray<{ dropped: number }> };
  };
  /** The configured replicas' ids ("host:port"), so every one has a phase series. */
  replicas: readonly string[];
  /** One instance of a group on etcd: the leadership series exist (docs/ha.md). */
  ha?: boolean;
}

/**
 * A counter fed from a total the status keeps (failed writes, takeovers, clients closed by
 * reason): what it grew by since the last scrape, per key, never negative (a total that went
 * down, or came back, adds nothing until it passes what was already counted).
 */
class TotalsSeen {
  private readonly seen = new Map<string, number>();

  growth(key: string, total: number): number {
    const before = this.seen.get(key) ?? 0;
    this.seen.set(key, Math.max(total, before));
    return Math.max(0, total - before);
  }
}

/**
 * Turns per-session byte totals (which restart at 0 with every session) into monotonic totals:
 * it remembers the last total seen per session and adds only the growth. A session's final
 * totals must be observed before forget() (the app does it on the session's `closed` event), so
 * no byte relayed between the last scrape and the close is lost.
 */
export class RelayByteCounter {
  private readonly seen = new Map<string, { toReplica: number; toMaster: number }>();
  private totals = { toReplica: 0, toMaster: 0 };

  observe(sessionId: string, toReplica: number, toMaster: number): void {
    const last = this.seen.get(sessionId) ?? { toReplica: 0, toMaster: 0 };
    // A session's counters only grow; max() guards against a reused id starting again at 0.
    this.totals = {
      toReplica: this.totals.toReplica + Math.max(0, toReplica - last.toReplica),
      toMaster: this.totals.toMaster + Math.max(0, toMaster - last.toMaster),
    };
    this.seen.set(sessionId, {
      toReplica: Math.max(toReplica, last.toReplica),
      toMaster: Math.max(toMaster, last.toMaster),
    });
  }

  forget(sessionId: string): void {
    this.seen.delete(sessionId);
  }

  total(): { toReplica: number; toMaster: number } {
    return { ...this.totals };
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly relay = new RelayByteCounter();
  private readonly relayReported = { toReplica: 0, toMaster: 0 };
  private readonly failovers: Counter<'result'>;
  private readonly failoverDuration: Histogram;
  private readonly notifications: Counter<'channel' | 'result'>;
  private readonly outbox: Gauge;

  constructor(
    private readonly source: MetricsSource,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'rbuddy_',
      // prom-client samples the event-loop delay with a timer, every 10 ms by default: 100
      // wake-ups a second of an otherwise idle relay, measured at about half its idle CPU and
      // ~0.1 CPU s per GB relayed (docs/benchmarks.md, "Where rbuddy's time goes"). Every 100 ms
      // still catches any stall worth alerting on.
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });

    new Gauge({
      name: 'rbuddy_up',
      help: 'Always 1 while the rbuddy process answers',
      registers,
    }).set(1);

    new Gauge({
      name: 'rbuddy_state',
      help: 'The failover engine state: 1 for the current state, 0 for the others',
      labelNames: ['state'],
      registers,
      collect() {
        const current = source.status().state;
        for (const state of ENGINE_STATES) this.set({ state }, state === current ? 1 : 0);
      },
    });

    new Gauge({
      name: 'rbuddy_epoch',
      help: 'The persisted failover epoch (0 before the state is read)',
      registers,
      collect() {
        this.set(source.status().epoch ?? 0);
      },
    });

    new Gauge({
      name: 'rbuddy_master_up',
      help: "1 while the master's health probe succeeds, else 0",
      registers,
      collect() {
        this.set(source.status().masterUp ? 1 : 0);
      },
    });

    this.failovers = new Counter({
      name: 'rbuddy_failovers_total',
      help: 'Failovers by result: completed, aborted (by an operator) or failed (one failed attempt)',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['completed', 'aborted', 'failed']) this.failovers.inc({ result }, 0);

    this.failoverDuration = new Histogram({
      name: 'rbuddy_failover_duration_seconds',
      help: 'From the start of a failover to failover.completed (the new active is announced)',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });

    const relay = this.relay;
    const reported = this.relayReported;
    new Counter({
      name: 'rbuddy_relay_bytes_total',
      help: 'Replication bytes relayed: to_replica (from the master), to_master (ACKs)',
      labelNames: ['direction'],
      registers,
      collect() {
        for (const session of source.status().sessions) {
          relay.observe(session.id, session.bytes.fromMaster, session.bytes.toMaster);
        }
        const total = relay.total();
        this.inc({ direction: 'to_replica' }, total.toReplica - reported.toReplica);
        this.inc({ direction: 'to_master' }, total.toMaster - reported.toMaster);
        reported.toReplica = total.toReplica;
        reported.toMaster = total.toMaster;
      },
    });

    new Gauge({
      name: 'rbuddy_session_phase',
      help: "Each configured replica's relay session phase: 1 for the current one (closed: no session)",
      labelNames: ['replica', 'phase'],
      registers,
      collect() {
        const sessions = source.status().sessions;
        for (const replica of source.replicas) {
          const current =
            sessions.find((session) => session.replica === replica)?.phase ?? 'closed';
          for (const phase of SESSION_PHASES)
            this.set({ replica, phase }, phase === current ? 1 : 0);
        }
      },
    });

    new Gauge({
      name: 'rbuddy_replica_lag_bytes',
      help: 'Bytes relayed to a replica that it has not acknowledged yet (live sessions only)',
      labelNames: ['replica'],
      registers,
      collect() {
        this.reset();
        for (const session of source.status().sessions) {
          if (session.lagBytes !== null) this.set({ replica: session.replica }, session.lagBytes);
        }
      },
    });

    new Gauge({
      name: 'rbuddy_replica_lag_seconds',
      help:
        'How long ago the oldest byte a replica has not acknowledged was relayed (live sessions ' +
        'after their first ACK; about 1 s under a steady stream, growing when it stops applying it)',
      labelNames: ['replica'],
      registers,
      collect() {
        this.reset();
        for (const session of source.status().sessions) {
          if (session.lagMs !== null) this.set({ replica: session.replica }, session.lagMs / 1000);
        }
      },
    });

    const writeFailures = new TotalsSeen();
    new Counter({
      name: 'rbuddy_state_write_failures_total',
      help: 'Failed writes of the state file (disk full, read-only…); every retry counts',
      registers,
      collect() {
        this.inc(writeFailures.growth('', source.status().stateStore?.failedWrites ?? 0));
      },
    });

    this.clientMetrics(registers);
    if (source.ha === true) this.leadershipMetrics(registers);

    this.notifications = new Counter({
      name: 'rbuddy_notifications_total',
      help: 'Notification deliveries by channel (webhook, pubsub, publish) and result',
      labelNames: ['channel', 'result'],
      registers,
    });
    // Every pair exists from the start at 0: a series born at its first increment has no earlier
    // sample, so increase() over it is 0 and an alert on the first failure would never fire.
    for (const channel of NOTIFICATION_CHANNELS) {
      for (const result of NOTIFICATION_RESULTS) this.notifications.inc({ channel, result }, 0);
    }

    this.outbox = new Gauge({
      name: 'rbuddy_outbox_pending',
      help: 'Webhook notifications waiting in the durable outbox',
      registers,
    });
    this.outbox.set(0);
  }

  /**
   * The RESP port's limits at work (docs/design.md, "Limits and trust"): connections refused and
   * closed by reason, and the bytes of incomplete commands held against the input budget. Read
   * from the status at scrape time; the counters add what the status counted since the last one.
   */
  private clientMetrics(registers: Registry[]): void {
    const source = this.source;
    const counted = (
      name: string,
      help: string,
      pick: (
        clients: NonNullable<ReturnType<MetricsSource['status']>['clients']>,
      ) => Readonly<Record<string, number>>,
    ): void => {
      const seen = new TotalsSeen();
      new Counter({
        name,
        help,
        labelNames: ['reason'],
        registers,
        collect() {
          const clients = source.status().clients;
          if (clients === undefined) return;
          for (const [reason, total] of Object.entries(pick(clients))) {
            this.inc({ reason }, seen.growth(reason, total));
          }
        },
      });
    };
    counted(
      'rbuddy_client_connections_refused_total',
      'RESP port connections refused at accept, by reason (protected-mode, max-clients)',
      (clients) => clients.refused,
    );
    counted(
      'rbuddy_client_connections_closed_total',
      'RESP port client connections closed for breaking a limit, by reason (output-limit, output-budget, query-limit, input-budget, auth-timeout, auth-failures, unauthenticated-commands)',
      (clients) => clients.closed,
    );
    new Gauge({
      name: 'rbuddy_client_input_held_bytes',
      help: "Bytes of the RESP port clients' incomplete commands, held against the input budget",
      registers,
      collect() {
        this.set(source.status().clients?.input.heldBytes ?? 0);
      },
    });
  }

  /** rbuddy_leader, the lease's time left, takeovers: only an instance of a group has them. */
  private leadershipMetrics(registers: Registry[]): void {
    const source = this.source;
    new Gauge({
      name: 'rbuddy_leader',
      help: 'With --etcd: 1 while this instance leads its group (acts, relays, probes), else 0',
      registers,
      collect() {
        this.set(source.status().leader === true ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rbuddy_lease_remaining_seconds',
      help: "With --etcd: the leader's lease time left as last renewed (0 when not leading)",
      registers,
      collect() {
        this.set((source.status().lease?.remainingMs ?? 0) / 1000);
      },
    });
    const takeovers = new TotalsSeen();
    new Counter({
      name: 'rbuddy_takeovers_total',
      help: 'With --etcd: times this instance became the leader of its group',
      registers,
      collect() {
        this.inc(takeovers.growth('', source.status().takeovers ?? 0));
      },
    });
    const dropped = new TotalsSeen();
    new Counter({
      name: 'rbuddy_outbox_dropped_total',
      help: 'Undelivered webhook notifications dropped, oldest first, past the outbox limit',
      registers,
      collect() {
        const hooks = source.status().notifications?.webhooks ?? [];
        const total = hooks.reduce((sum, hook) => sum + hook.dropped, 0);
        this.inc(dropped.growth('', total));
      },
    });
  }

  /** Counts one notification outcome (the webhook, pub/sub and publish channels call this). */
  notification(channel: NotificationChannel, result: NotificationResult, count = 1): void {
    this.notifications.inc({ channel, result }, count);
  }

  setOutboxPending(pending: number): void {
    this.outbox.set(pending);
  }

  /** A relay session's final byte totals, on its `closed` event, before it leaves the list. */
  sessionClosed(session: Pick<SessionStatus, 'id' | 'bytes'>): void {
    this.relay.observe(session.id, session.bytes.fromMaster, session.bytes.toMaster);
    this.relay.forget(session.id);
  }

  /** EventSink: failover results and durations come from the events. */
  deliver(event: RbuddyEvent): void {
    if (event.type === 'failover.completed') {
      this.failovers.inc({ result: 'completed' });
      // The engine saved the switched record before emitting, so it is still in the status.
      const startedAt = this.source.status().failover?.startedAt;
      const started = startedAt === undefined ? Number.NaN : Date.parse(startedAt);
      if (Number.isFinite(started)) {
        this.failoverDuration.observe(Math.max(0, (this.now() - started) / 1000));
      }
    } else if (event.type === 'failover.failed') {
      const aborted = event.data.reason?.startsWith('aborted') === true;
      this.failovers.inc({ result: aborted ? 'aborted' : 'failed' });
    }
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
