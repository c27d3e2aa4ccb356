// Watches a running rbuddy the way an operator would: its JSON log lines (state changes, events,
// failover actions, sessions attached and closed, the master's PSYNC answers) and GET /v1/status
// (state, roles, epoch, snapshot progress, offsets, ACKs). Turns them into a timeline stamped
// with rbuddy's own clock, a live block of progress bars on a terminal, and periodic lines in a
// pipe.
import type { AppStatus } from '../src/app.js';
import type { SessionStatus } from '../src/proxy/session-types.js';
import type { RbuddyProcess } from '../harness/rbuddy-process.js';
import {
  actionText,
  describeRequest,
  readEvent,
  readStateChange,
  shortId,
  TOLD_ELSEWHERE,
  type EventRecord,
  type StateChange,
} from './rbuddy-log.js';
import { describeSession } from './session-line.js';
import { newSessionRecord, type SessionRecord } from './session-record.js';
import { Timeline, WHO_WIDTH, type TimelineLine } from './timeline.js';
import { bytes, count, rate, seconds, type Colour, type Terminal } from './terminal.js';

const POLL_MS = 100;
/** Lines are printed once this old, sorted: a status poll can reveal a later phase before the
 * log line of an earlier one has been read, and the timeline must still read in order. */
const SETTLE_MS = 300;
/** In a pipe: a progress line per snapshot this often, an offsets line per moving stream this
 * often, nothing in the other phases (their changes are on the timeline). */
const PIPE_EVERY_MS: Record<SessionStatus['phase'], number> = {
  handshake: Infinity,
  'waiting-snapshot': Infinity,
  snapshot: 500,
  streaming: 5_000,
  closed: Infinity,
};
const RATE_WINDOW_MS = 1_000;
/** A streak of refused PSYNC attempts is over when the replica has not tried for this long. */
const REFUSALS_QUIET_MS = 2_500;

export interface Replica {
  name: string;
  address: string;
  colour: Colour;
}

/** A line shown now and then in a pipe (where nothing is redrawn), when its text changed. */
export interface PipeTicker {
  everyMs: number;
  line: () => { who: string; colour: Colour; text: string } | undefined;
}

export class FailoverMonitor {
  private readonly byAddress = new Map<string, Replica>();
  private readonly records = new Map<string, Map<string, SessionRecord>>();
  private readonly current = new Map<string, SessionStatus>();
  private readonly timeline: Timeline;
  private logIndex = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private statusError: string | undefined;
  private readonly tickers = new Map<PipeTicker, { at: number; text: string }>();
  /** Per replica: PSYNC attempts refused in a row for want of a master, not shown one by one. */
  private readonly refusals = new Map<string, { hidden: number; lastAt: number }>();
  /** The last /v1/status answer. */
  status: AppStatus | undefined;
  readonly events: EventRecord[] = [];
  readonly states: StateChange[] = [];
  /** Extra live lines supplied by the caller (reader, writer). */
  extraLive: () => string[] = () => [];
  /** Called on every poll, before the timeline is printed (for the caller's own notes). */
  onTick: () => void = () => undefined;

  constructor(
    private readonly term: Terminal,
    private readonly rbuddy: RbuddyProcess,
    replicas: readonly Replica[],
    private readonly t0: number,
  ) {
    this.timeline = new Timeline(term, t0);
    for (const replica of replicas) {
      this.byAddress.set(replica.address, replica);
      this.records.set(replica.address, new Map());
    }
  }

  start(): void {
    this.term.setLive(() => this.liveLines());
    this.loop = (async () => {
      while (!this.stopped) {
        await this.serialTick();
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();
  }

  /** Stops polling, prints what is pending, and removes the live block. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.loop;
    await this.serialTick(true);
    this.term.setLive(undefined);
  }

  /**
   * Leaves out every log line written so far: watching an instance that was a follower until
   * now, only what it does from here on is told.
   */
  skipLogs(): void {
    this.logIndex = this.rbuddy.logs().length;
  }

  /** Adds a line printed now and then in a pipe (a terminal has the live block instead). */
  addPipeTicker(ticker: PipeTicker): void {
    this.tickers.set(ticker, { at: 0, text: '' });
  }

  /** A line on the timeline from the demo itself (kill -9 sent, master restarted, …). */
  note(who: string, colour: Colour, text: string, tone?: Colour): void {
    this.timeline.add({ at: Date.now(), who, colour, text, tone });
  }

  /** A line on the timeline for something the demo saw happen at `at`. */
  notePast(at: number, who: string, colour: Colour, text: string, tone?: Colour): void {
    this.timeline.add({ at, who, colour, text, tone });
  }

  /** Prints every pending timeline line now (before a heading, say). */
  flush(): void {
    this.timeline.printUpTo(Number.POSITIVE_INFINITY);
  }

  /** The session rbuddy currently has for a replica, as of the last poll. */
  session(replica: Replica): SessionStatus | undefined {
    return this.current.get(replica.address);
  }

  /** Every session seen for a replica, oldest first. */
  sessions(replica: Replica): SessionRecord[] {
    return [...(this.records.get(replica.address)?.values() ?? [])];
  }

  /** The name the demo gives a replica address (`host:port`), or the address itself. */
  nameOf(address: string | null | undefined): string {
    if (address === null || address === undefined) return '?';
    return this.byAddress.get(address)?.name ?? address;
  }

  /** A fresh poll, for callers that wait on what rbuddy reports. */
  async poll(): Promise<AppStatus | undefined> {
    await this.serialTick();
    return this.status;
  }

  stamp(at: number): string {
    return this.timeline.stamp(at);
  }

  /** One tick at a time: a late status answer must not overwrite a newer one. */
  private serialTick(final = false): Promise<void> {
    const next = this.chain.then(() => this.tick(final));
    this.chain = next.catch(() => undefined);
    return next;
  }

  // ---- one poll -------------------------------------------------------------------------------

  private async tick(final = false): Promise<void> {
    // Read the log first, then the status: the status is then at least as recent as every log
    // line taken, so details looked up in it (snapshot size, offsets) exist.
    const logs = this.rbuddy.logs();
    const end = logs.length;
    // The last tick only prints what is pending: rbuddy may be on its way down by now.
    const status = final ? undefined : await this.fetchStatus();
    if (status !== undefined) this.absorbStatus(status);
    for (; this.logIndex < end; this.logIndex += 1) {
      const line = logs[this.logIndex];
      if (line !== undefined) this.absorbLog(line);
    }
    // A streak that went quiet (the replica was promoted, say) is told now.
    const now = Date.now();
    for (const replica of this.byAddress.values()) {
      const streak = this.refusals.get(replica.address);
      if (final || (streak !== undefined && now - streak.lastAt > REFUSALS_QUIET_MS)) {
        this.endRefusals(replica, now);
      }
    }
    this.onTick();
    if (this.term.tty) {
      this.timeline.printUpTo(final ? Number.POSITIVE_INFINITY : Date.now() - SETTLE_MS);
      this.term.refresh();
    } else {
      if (!final) this.pipeLines();
      this.timeline.printUpTo(final ? Number.POSITIVE_INFINITY : Date.now() - SETTLE_MS);
    }
  }

  private async fetchStatus(): Promise<AppStatus | undefined> {
    if (this.rbuddy.child.exitCode !== null || this.rbuddy.child.signalCode !== null) {
      // Nothing relays any more: show no session rather than the last ones seen.
      this.current.clear();
      return undefined;
    }
    try {
      const response = await fetch(`${this.rbuddy.httpUrl}/v1/status`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const status = (await response.json()) as AppStatus;
      this.statusError = undefined;
      return status;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.statusError === undefined && !this.stopped) {
        this.note('rbuddy', 'dim', `GET /v1/status failed: ${message}`, 'red');
      }
      this.statusError = message;
      return undefined;
    }
  }

  private absorbStatus(status: AppStatus): void {
    this.status = status;
    this.current.clear();
    const now = Date.now();
    for (const session of status.sessions) {
      const replica = this.byAddress.get(session.replica);
      if (replica === undefined) continue;
      this.current.set(replica.address, session);
      const record = this.record(replica, session.id);
      record.bytes = session.bytes;
      record.snapshot = session.snapshot;
      const snap = session.snapshot;
      if (snap !== null) {
        record.samples.push({ at: now, transferred: snap.transferred });
        while ((record.samples[0]?.at ?? now) < now - RATE_WINDOW_MS) record.samples.shift();
        if (!record.announced.has('snapshot')) {
          record.announced.add('snapshot');
          const size = snap.size === null ? 'size known at the end' : bytes(snap.size);
          this.replicaLine(
            replica,
            Date.parse(snap.startedAt),
            `→ snapshot          ${snap.format === 'disk' ? 'disk' : 'diskless'} snapshot starts flowing through rbuddy (${size})`,
          );
        }
        if (snap.finishedAt !== null && !record.announced.has('streaming')) {
          record.announced.add('streaming');
          const took = Date.parse(snap.finishedAt) - Date.parse(snap.startedAt);
          this.replicaLine(
            replica,
            Date.parse(snap.finishedAt),
            `→ streaming         snapshot relayed: ${bytes(snap.transferred)} in ${seconds(took)} (${rate((snap.transferred / Math.max(took, 1)) * 1000)}); the replica loads it`,
          );
        }
      }
      if (session.lastAck !== null && record.firstAck === undefined) {
        record.firstAck = { offset: session.lastAck.offset, at: Date.parse(session.lastAck.at) };
        this.replicaLine(
          replica,
          record.firstAck.at,
          `  first ACK         loaded: REPLCONF ACK ${count(session.lastAck.offset)} relayed to the master`,
        );
      }
    }
  }

  private absorbLog(line: Record<string, unknown>): void {
    const msg = typeof line.msg === 'string' ? line.msg : '';
    const at = typeof line.time === 'string' ? Date.parse(line.time) : Date.now();
    if (this.absorbEngineLog(line, msg, at)) return;
    const replica = typeof line.replica === 'string' ? this.byAddress.get(line.replica) : undefined;
    const sessionId = typeof line.session === 'string' ? line.session : undefined;
    if (replica !== undefined && sessionId !== undefined) {
      const record = this.record(replica, sessionId);
      const closedFor =
        msg === 'session closed' && typeof line.reason === 'string' ? line.reason : '';
      if (msg !== 'replica attached' && closedFor !== 'upstream-unavailable') {
        // Told just before the attempt that ended the streak.
        this.endRefusals(replica, (record.handshakeLine?.at ?? at) - 1);
      }
      switch (msg) {
        case 'replica attached':
          record.handshakeLine = this.replicaLine(
            replica,
            at,
            `→ handshake         session ${sessionId}: ${describeRequest(line.request)}`,
          );
          return;
        case 'master answered FULLRESYNC':
          record.reply = 'fullresync';
          this.replicaLine(
            replica,
            at,
            `→ waiting-snapshot  master: +FULLRESYNC ${shortId(line.replid)} ${String(line.offset)} (it writes a snapshot)`,
          );
          return;
        case 'master answered CONTINUE':
          record.reply = 'continue';
          record.announced.add('snapshot').add('streaming');
          this.replicaLine(
            replica,
            at,
            `→ streaming         master: +CONTINUE, partial resync from offset ${count(Number(line.offset))}, no snapshot`,
            'green',
          );
          return;
        case 'session closed':
          record.closedReason = closedFor === '' ? 'unknown' : closedFor;
          if (closedFor === 'upstream-unavailable' && this.hideRefusal(replica, record, at)) return;
          this.replicaLine(
            replica,
            at,
            `→ closed            session ${sessionId}: ${record.closedReason}`,
            'yellow',
          );
          return;
      }
    }
    // Anything rbuddy thought worth a warning belongs on the timeline too.
    const level = typeof line.level === 'string' ? line.level : '';
    const serious = level === 'warn' || level === 'error' || level === 'fatal';
    if ((serious && !TOLD_ELSEWHERE.has(msg)) || line.unparsed === true) {
      const err = line.err as { message?: unknown } | undefined;
      const said = [err?.message, line.reply, line.why].find((v) => typeof v === 'string');
      const detail = typeof said === 'string' ? `: ${said.trim()}` : '';
      this.timeline.add({
        at,
        who: replica?.name ?? 'rbuddy',
        colour: replica?.colour ?? 'dim',
        text: `rbuddy ${level || 'says'}: ${msg}${detail}`,
        tone: level === 'warn' ? 'yellow' : 'red',
      });
    }
  }

  /** State changes, events and failover actions; true when the line was one of those. */
  private absorbEngineLog(line: Record<string, unknown>, msg: string, at: number): boolean {
    const record = readEvent(line, msg, at);
    if (record !== undefined) {
      this.events.push(record);
      const reason = record.reason === undefined ? '' : `  ${record.reason}`;
      this.timeline.add({
        at,
        who: 'event',
        colour: 'yellow',
        text: `${this.term.paint('bold', record.type.padEnd(19))} id ${record.id.slice(0, 8)}  epoch ${record.epoch}${this.term.paint('dim', reason)}`,
        tone: record.type === 'failover.failed' ? 'red' : undefined,
      });
      return true;
    }
    const change = readStateChange(line, msg, at);
    if (change !== undefined) {
      this.states.push(change);
      const reason = change.reason === undefined ? '' : `  (${change.reason})`;
      this.timeline.add({
        at,
        who: 'rbuddy',
        colour: 'green',
        text: `state ${change.from} → ${this.term.paint('bold', change.to)}${this.term.paint('dim', reason)}`,
        tone: undefined,
      });
      return true;
    }
    if (msg === 'failover action' && typeof line.action === 'string') {
      const what = actionText(line.action);
      this.timeline.add({
        at,
        who: 'rbuddy',
        colour: 'green',
        text: this.term.paint('dim', `action ${line.action.padEnd(22)} ${what}`),
        tone: undefined,
      });
      return true;
    }
    return false;
  }

  /**
   * A replica whose master is away retries its PSYNC about once a second, and rbuddy turns each
   * attempt away (upstream-unavailable). The first refusal is shown; the next ones in a row are
   * counted, and told in one line when the streak ends. True when this one was hidden.
   */
  private hideRefusal(replica: Replica, record: SessionRecord, at: number): boolean {
    const streak = this.refusals.get(replica.address);
    if (streak === undefined) {
      this.refusals.set(replica.address, { hidden: 0, lastAt: at });
      return false;
    }
    const handshake = record.handshakeLine;
    // Only while its handshake line is still pending can the attempt vanish from the timeline.
    if (handshake === undefined || !this.timeline.withdraw(handshake)) return false;
    streak.hidden += 1;
    streak.lastAt = at;
    return true;
  }

  /** Ends a replica's streak of refusals, telling how many were hidden, stamped `at`. */
  private endRefusals(replica: Replica, at: number): void {
    const streak = this.refusals.get(replica.address);
    if (streak === undefined) return;
    this.refusals.delete(replica.address);
    if (streak.hidden === 0) return;
    const last = ((streak.lastAt - this.t0) / 1000).toFixed(2);
    this.replicaLine(
      replica,
      at,
      `  … ${streak.hidden} more PSYNC attempt${streak.hidden === 1 ? '' : 's'} turned away the same way, the last at +${last}s`,
      'dim',
    );
  }

  private record(replica: Replica, id: string): SessionRecord {
    const records = this.records.get(replica.address) ?? new Map<string, SessionRecord>();
    this.records.set(replica.address, records);
    let record = records.get(id);
    if (record === undefined) {
      record = newSessionRecord(id);
      records.set(id, record);
    }
    return record;
  }

  // ---- output ---------------------------------------------------------------------------------

  private replicaLine(replica: Replica, at: number, text: string, tone?: Colour): TimelineLine {
    return this.timeline.add({ at, who: replica.name, colour: replica.colour, text, tone });
  }

  private liveLines(): string[] {
    const pad = ' '.repeat(10);
    const lines: string[] = [];
    for (const replica of this.byAddress.values()) {
      lines.push(
        `${pad}${this.term.paint(replica.colour, replica.name.padEnd(WHO_WIDTH))}${this.role(replica).padEnd(8)} ${this.describe(replica, true)}`,
      );
    }
    const status = this.status;
    if (status !== undefined) {
      const step = status.failover === null ? '' : ` · failover step ${status.failover.step}`;
      const reason = status.reason === null ? '' : ` · ${status.reason}`;
      lines.push(
        `${pad}${this.term.paint('green', 'rbuddy'.padEnd(WHO_WIDTH))}${this.term.paint('bold', status.state)} · epoch ${String(status.epoch)} · active ${this.nameOf(status.active)}${step}${this.term.paint('dim', reason)}`,
      );
    }
    return [...lines, ...this.extraLive().map((line) => `${pad}${line}`)];
  }

  private role(replica: Replica): string {
    if (this.status?.active === replica.address) return 'active';
    if (this.status?.standby === replica.address) return 'standby';
    return '';
  }

  /** In a pipe: a line per replica now and then while a snapshot flows or the stream moves. */
  private pipeLines(): void {
    const now = Date.now();
    for (const replica of this.byAddress.values()) {
      const session = this.current.get(replica.address);
      if (session === undefined) continue;
      const record = this.record(replica, session.id);
      if (now - record.lastPipeLine < PIPE_EVERY_MS[session.phase]) continue;
      // A stream that has not moved since the last line has nothing new to say.
      const progress = `${session.phase} ${session.offset} ${session.lastAck?.offset}`;
      if (session.phase === 'streaming' && progress === record.lastPipeProgress) continue;
      record.lastPipeLine = now;
      record.lastPipeProgress = progress;
      // Through the queue, so that it lands in time order among the phase changes.
      this.replicaLine(replica, now, `  ${this.describe(replica, false)}`);
    }
    for (const [ticker, last] of this.tickers) {
      if (now - last.at < ticker.everyMs) continue;
      const line = ticker.line();
      if (line === undefined || line.text === last.text) continue;
      this.tickers.set(ticker, { at: now, text: line.text });
      this.timeline.add({ at: now, ...line, tone: undefined });
    }
  }

  private describe(replica: Replica, live: boolean): string {
    const session = this.current.get(replica.address);
    if (session === undefined) {
      const node = this.status?.nodes.find((n) => n.id === replica.address);
      if (node === undefined || !node.reachable) {
        return this.term.paint('dim', 'no session through rbuddy');
      }
      return this.term.paint(
        'dim',
        `no session through rbuddy · ${node.role ?? '?'}, ${count(node.keys)} keys`,
      );
    }
    return describeSession(session, this.record(replica, session.id).samples, live);
  }
}
