// One replica's replication link through the proxy: the replica's connection (downstream)
// and the proxy's own connection to the master (upstream). The master's bytes after the PSYNC
// reply reach the replica untouched, the replica's ACKs reach the master untouched; the
// session only watches them go by to know the phase, the snapshot's progress and the offsets.
//
// The session takes Duplex streams and a connect function, never creates sockets itself, so
// tests can drive it with fake peers.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  asError,
  DrainTimeoutError,
  RbuddyError,
  ReplicaTimeoutError,
  UpstreamAuthError,
  UpstreamClosedError,
  UpstreamTimeoutError,
} from '../errors.js';
import { encodeError } from '../resp/encode.js';
import { ReplicationFramer, type UpstreamEvent } from '../resp/replication-framer.js';
import { Hop } from './hop.js';
import { ReplicaAcks } from './replica-acks.js';
import { SilenceWatch } from './silence-watch.js';
import type {
  FullSyncStart,
  ReplicaHello,
  SessionCloseReason,
  SessionEvent,
  SessionInfo,
  SessionPhase,
  SessionStatus,
  SyncGate,
  UpstreamLink,
} from './session-types.js';
import type { ReplicaNode } from '../nodes/replica-node.js';
import { buildUpstreamHandshake } from './upstream-handshake.js';

export interface ReplicaSessionOptions {
  id: string;
  node: ReplicaNode;
  hello: ReplicaHello;
  downstream: Duplex;
  /** Opens the connection to the master; rejects on failure or timeout. */
  connectUpstream: () => Promise<UpstreamLink>;
  upstreamAuth: { user: string; password: string } | undefined;
  /** Like Redis's repl-timeout: silence upstream, or a peer that does not drain, for this long. */
  replTimeoutMs: number;
  gate: SyncGate | undefined;
  logger: Logger;
  /** Milliseconds since the epoch, like Date.now (injectable for tests). */
  now?: () => number;
}

/** Mid-snapshot reads smaller than this pause reading for SNAPSHOT_HOLD_MS (see 'snapshot-data'). */
const SNAPSHOT_SMALL_READ_BYTES = 128 * 1024;
const SNAPSHOT_HOLD_MS = 2;

/** What a replica is told when the proxy cannot reach the master: "retry later". */
export const NOMASTERLINK = "NOMASTERLINK Can't SYNC while not connected with my master";

export class ReplicaSession extends EventEmitter<{ event: [SessionEvent] }> implements SessionInfo {
  readonly id: string;
  readonly node: ReplicaNode;
  readonly hello: ReplicaHello;
  private readonly downstream: Duplex;
  private upstream: Duplex | undefined;
  private readonly options: ReplicaSessionOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly connectedAt: number;

  private currentPhase: SessionPhase = 'handshake';
  private framer: ReplicationFramer | undefined;
  private readonly acks: ReplicaAcks;
  private toReplica: Hop | undefined;
  private toMaster: Hop | undefined;
  /** The PSYNC/SYNC, held until the master has answered every handshake command. */
  private pendingSync: Buffer | undefined;
  private handshakeRepliesLeft = 0;

  private replid: string | undefined;
  /** Offset of the replica before the first stream byte: FULLRESYNC offset or PSYNC offset − 1. */
  private offsetBase: number | undefined;
  private snapshot:
    | { format: 'disk' | 'eof'; size: number | null; startedAt: number; finishedAt: number | null }
    | undefined;
  private keepalives = 0;
  private closed = false;
  /** Reads from the master so far: the silence watch compares it between its ticks. */
  private upstreamReads = 0;
  private downstreamReads = 0;
  private silenceWatch: SilenceWatch | undefined;
  /** The gate let a full sync through (+FULLRESYNC): the snapshot after it needs no second look. */
  private fullSyncAdmitted = false;

  constructor(options: ReplicaSessionOptions) {
    super();
    this.options = options;
    this.id = options.id;
    this.node = options.node;
    this.hello = options.hello;
    this.downstream = options.downstream;
    this.now = options.now ?? Date.now;
    this.connectedAt = this.now();
    this.log = options.logger.child({ session: this.id, replica: this.node.id });
    this.acks = new ReplicaAcks(
      {
        ack: (offset) => this.emitEvent({ type: 'ack', offset }),
        sync: () => {
          // Fallback after a PSYNC error reply: the master answers with a snapshot header directly.
          if (this.framer?.phase === 'psync-reply') this.framer.expectSnapshot();
        },
      },
      this.log,
      this.now,
    );
  }

  get phase(): SessionPhase {
    return this.currentPhase;
  }

  /** Replication offset at the last byte relayed to the replica. */
  get offset(): number | undefined {
    if (this.offsetBase === undefined || this.framer === undefined) return undefined;
    return this.offsetBase + this.framer.streamBytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Connects upstream, sends the replica's handshake, and relays. Never rejects. */
  async start(): Promise<void> {
    this.downstream.on('close', this.onDownstreamClose);
    this.downstream.on('error', this.onDownstreamError);
    let link: UpstreamLink;
    try {
      link = await this.options.connectUpstream();
    } catch (error) {
      this.refuse(asError(error));
      return;
    }
    const upstream = link.stream;
    if (this.closed) {
      upstream.destroy();
      return;
    }
    this.upstream = upstream;
    this.emitEvent({ type: 'upstream-connected' });

    const handshake = buildUpstreamHandshake({
      auth: this.options.upstreamAuth,
      listeningPort: this.hello.listeningPort,
      // The master lists the replica under the address the operator configured for it.
      ipAddress: this.hello.announcedIp ?? this.node.host,
      capabilities: this.hello.capabilities,
      request: this.hello.request,
    });
    this.framer = new ReplicationFramer({
      handshakeReplies: handshake.replyCount,
      mode: this.hello.request.kind,
    });
    const drainTimeoutMs = this.options.replTimeoutMs;
    this.toReplica = new Hop({
      source: upstream,
      sink: this.downstream,
      drainTimeoutMs,
      reusesChunks: link.reusesChunks,
      onStuck: () =>
        this.close(
          'replica-stuck',
          new DrainTimeoutError(
            'RBUDDY_ERR_REPLICA_DRAIN_TIMEOUT',
            `replica ${this.node.id} did not read for ${drainTimeoutMs} ms`,
          ),
        ),
    });
    this.toMaster = new Hop({
      source: this.downstream,
      sink: upstream,
      drainTimeoutMs,
      onStuck: () =>
        this.close(
          'upstream-stuck',
          new DrainTimeoutError(
            'RBUDDY_ERR_UPSTREAM_DRAIN_TIMEOUT',
            `master did not read for ${drainTimeoutMs} ms`,
          ),
        ),
    });

    link.onData(this.onUpstreamData);
    upstream.on('close', this.onUpstreamClose);
    upstream.on('error', this.onUpstreamError);
    this.watchUpstreamSilence();
    this.downstream.on('data', this.onDownstreamData);
    this.pendingSync = handshake.sync;
    this.handshakeRepliesLeft = handshake.replyCount;
    if (handshake.replyCount > 0) upstream.write(handshake.prelude);
    else this.sendSync();
    this.downstream.resume();
  }

  /**
   * Ends both connections; the replica will reconnect and PSYNC again. With `lastWords`, that
   * reply is flushed to the replica before its connection ends.
   */
  close(reason: SessionCloseReason, error?: Error, lastWords?: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    this.silenceWatch?.stop();
    this.setPhase('closed');
    this.toReplica?.dispose();
    this.toMaster?.dispose();
    this.upstream?.destroy();
    if (lastWords !== undefined && !this.downstream.destroyed) {
      this.downstream.end(lastWords);
      // A replica that does not read its last words does not hold the socket open.
      setTimeout(() => this.downstream.destroy(), 1000).unref();
    } else {
      this.downstream.destroy();
    }
    const level = reason === 'shutdown' || reason === 'replica-hangup' ? 'info' : 'warn';
    this.log[level](
      { reason, err: error, code: error instanceof RbuddyError ? error.code : undefined },
      'session closed',
    );
    this.emitEvent({ type: 'closed', reason, error });
  }

  status(): SessionStatus {
    const offset = this.offset;
    const transferred = this.framer?.snapshotTransferred ?? 0;
    return {
      id: this.id,
      replica: this.node.id,
      peer: `${this.hello.peer.address}:${this.hello.peer.port}`,
      phase: this.currentPhase,
      request: this.hello.request,
      replid: this.replid ?? null,
      offset: offset ?? null,
      snapshot:
        this.snapshot === undefined
          ? null
          : {
              format: this.snapshot.format,
              size: this.snapshot.size,
              transferred,
              startedAt: isoTime(this.snapshot.startedAt),
              finishedAt:
                this.snapshot.finishedAt === null ? null : isoTime(this.snapshot.finishedAt),
            },
      lastAck:
        this.acks.lastOffset === undefined
          ? null
          : { offset: this.acks.lastOffset, at: isoTime(this.acks.lastAt) },
      lagBytes:
        offset !== undefined && this.acks.lastOffset !== undefined
          ? offset - this.acks.lastOffset
          : null,
      lagMs: this.acks.lagMs(),
      bytes: { fromMaster: this.toReplica?.bytes ?? 0, toMaster: this.toMaster?.bytes ?? 0 },
      keepalives: this.keepalives,
      buffered: {
        toReplica: (this.toReplica?.buffered ?? 0) + (this.framer?.buffered ?? 0),
        toMaster: (this.toMaster?.buffered ?? 0) + this.acks.buffered,
        peakToReplica: this.toReplica?.peakBuffered ?? 0,
        peakToMaster: this.toMaster?.peakBuffered ?? 0,
      },
      connectedAt: isoTime(this.connectedAt),
    };
  }

  // ---- master → replica -------------------------------------------------------------------

  private readonly onUpstreamData = (chunk: Buffer): void => {
    this.upstreamReads += 1;
    if (this.closed || this.framer === undefined || this.toReplica === undefined) return;
    let events: UpstreamEvent[];
    try {
      events = this.framer.push(chunk);
    } catch (error) {
      this.close('upstream-protocol-error', asError(error));
      return;
    }
    for (const event of events) {
      this.onUpstreamEvent(event, this.toReplica);
      if (this.closed) return;
    }
    const offset = this.offset;
    if (offset !== undefined) this.acks.relayed(offset);
  };

  private onUpstreamEvent(event: UpstreamEvent, toReplica: Hop): void {
    switch (event.type) {
      case 'handshake-reply':
        // Replies to AUTH and REPLCONF are the proxy's own business: the replica already got
        // its answers from the proxy. A failed AUTH is fatal (the master would refuse PSYNC);
        // REPLCONF errors are not, as for a replica (syncWithMaster only logs them).
        if (!event.ok) {
          if (/^-(WRONGPASS|NOAUTH|NOPERM|ERR invalid password)/i.test(event.line)) {
            this.refuse(new UpstreamAuthError(`master refused the proxy's AUTH: ${event.line}`));
            return;
          }
          this.log.warn({ reply: event.line }, 'master refused a handshake option');
        }
        this.handshakeRepliesLeft -= 1;
        if (this.handshakeRepliesLeft === 0) this.sendSync();
        return;
      case 'keepalive':
        this.keepalives += event.raw.length;
        toReplica.write(event.raw);
        return;
      case 'psync-reply': {
        const reply = event.reply;
        const verdict =
          reply.kind === 'fullresync'
            ? this.admit({ via: 'fullresync', replid: reply.replid, offset: reply.offset })
            : 'relay';
        this.emitEvent({ type: 'psync-reply', reply, relayed: verdict === 'relay' });
        if (verdict === 'close') {
          this.close('gated');
          return;
        }
        toReplica.write(event.raw);
        this.onPsyncReply(event);
        return;
      }
      case 'snapshot-start':
        // A snapshot with no +FULLRESYNC before it answers an inline SYNC: it is a full sync all
        // the same, and the gate decides on it here, before its first byte reaches the replica.
        if (!this.fullSyncAdmitted && this.admit({ via: 'sync' }) === 'close') {
          this.close('gated');
          return;
        }
        toReplica.write(event.raw);
        this.snapshot = {
          format: event.snapshot.format,
          size: event.snapshot.format === 'disk' ? event.snapshot.size : null,
          startedAt: this.now(),
          finishedAt: null,
        };
        this.setPhase('snapshot');
        this.emitEvent({ type: 'snapshot-started', snapshot: event.snapshot });
        return;
      case 'snapshot-data':
        toReplica.write(event.raw);
        // A diskless snapshot reaches the master from its child through a pipe and leaves in
        // pieces of 16 KB (PROTO_IOBUF_LEN, rdbPipeReadHandler): relayed one by one, they cost
        // the proxy about half again as much CPU per GB. A small read mid-snapshot pauses
        // reading for a moment, so the next read takes what gathered meanwhile (measured: 1.4–1.7
        // → 0.7–1.0 CPU s/GB, docs/benchmarks.md). Not for a disk snapshot: the master's file
        // reads come fast enough to fill large reads anyway, and a pause there slowed the transfer.
        if (this.snapshot?.format === 'eof' && event.raw.length < SNAPSHOT_SMALL_READ_BYTES) {
          toReplica.holdSource(SNAPSHOT_HOLD_MS);
        }
        return;
      case 'stream':
        toReplica.write(event.raw);
        return;
      case 'snapshot-end':
        if (this.snapshot !== undefined) {
          this.snapshot.size = event.size;
          this.snapshot.finishedAt = this.now();
        }
        this.emitEvent({ type: 'snapshot-finished', size: event.size });
        this.setPhase('streaming');
        this.emitEvent({ type: 'streaming', replid: this.replid, offset: this.offset ?? 0 });
        return;
      case 'snapshot-error':
        // The master aborted the transfer; the replica will log it and retry.
        toReplica.write(event.raw);
        this.log.warn({ reply: event.message }, 'master aborted the snapshot');
        return;
    }
  }

  private onPsyncReply(event: Extract<UpstreamEvent, { type: 'psync-reply' }>): void {
    const reply = event.reply;
    const request = this.hello.request;
    switch (reply.kind) {
      case 'fullresync':
        this.replid = reply.replid;
        this.offsetBase = reply.offset;
        this.setPhase('waiting-snapshot');
        this.log.info({ replid: reply.replid, offset: reply.offset }, 'master answered FULLRESYNC');
        return;
      case 'continue':
        this.replid = reply.replid ?? (request.kind === 'psync' ? request.replid : undefined);
        // The replica asked for the byte after its offset (PSYNC <replid> <offset+1>).
        this.offsetBase = request.kind === 'psync' ? request.offset - 1 : 0;
        this.setPhase('streaming');
        this.log.info({ replid: this.replid, offset: this.offsetBase }, 'master answered CONTINUE');
        this.emitEvent({ type: 'streaming', replid: this.replid, offset: this.offsetBase });
        return;
      case 'error':
        this.log.warn(
          { reply: reply.message, retryLater: reply.retryLater },
          'master refused PSYNC',
        );
        return;
    }
  }

  private readonly onUpstreamClose = (): void => {
    if (this.closed) return;
    const error = new UpstreamClosedError('master closed the replication connection');
    if (this.framer?.phase === 'handshake' || this.framer?.phase === 'psync-reply') {
      // Nothing was relayed yet: tell the replica to retry instead of dropping it mid-PSYNC.
      this.refuse(error);
      return;
    }
    this.emitEvent({ type: 'upstream-lost', error });
    this.close('upstream-lost', error);
  };

  private readonly onUpstreamError = (error: Error): void => {
    this.log.debug({ err: error }, 'upstream socket error');
  };

  private watchUpstreamSilence(): void {
    this.silenceWatch = new SilenceWatch({
      timeoutMs: this.options.replTimeoutMs,
      now: this.now,
      reads: () => ({ fromMaster: this.upstreamReads, fromReplica: this.downstreamReads }),
      holdingMaster: () => this.toReplica?.waitingForDrain === true,
      replicaStreaming: () => this.currentPhase === 'streaming',
      onMasterSilent: (silentMs) => {
        if (this.closed) return;
        const error = new UpstreamTimeoutError(`master sent nothing for ${silentMs} ms`);
        this.emitEvent({ type: 'upstream-lost', error });
        this.close('upstream-lost', error);
      },
      onReplicaSilent: (silentMs) => {
        this.close(
          'replica-timeout',
          new ReplicaTimeoutError(`replica ${this.node.id} sent nothing for ${silentMs} ms`),
        );
      },
    });
    this.silenceWatch.start();
  }

  // ---- replica → master -------------------------------------------------------------------

  private readonly onDownstreamData = (chunk: Buffer): void => {
    this.downstreamReads += 1;
    if (this.closed || this.toMaster === undefined) return;
    this.toMaster.write(chunk);
    this.acks.read(chunk);
  };

  private readonly onDownstreamClose = (): void => {
    this.close('replica-hangup');
  };

  private readonly onDownstreamError = (error: Error): void => {
    this.log.debug({ err: error }, 'replica socket error');
  };

  private sendSync(): void {
    if (this.pendingSync === undefined || this.upstream === undefined) return;
    this.upstream.write(this.pendingSync);
    this.pendingSync = undefined;
  }

  private admit(start: FullSyncStart): 'relay' | 'close' {
    const gate = this.options.gate;
    const verdict = gate === undefined ? 'relay' : gate(this, start);
    if (verdict === 'relay') this.fullSyncAdmitted = true;
    return verdict;
  }

  /** The master could not be used for this PSYNC: the replica keeps its data and retries. */
  private refuse(error: Error): void {
    if (this.closed) return;
    const reason = error instanceof UpstreamAuthError ? 'psync-refused' : 'upstream-unavailable';
    this.emitEvent({ type: 'upstream-lost', error });
    this.close(reason, error, encodeError(NOMASTERLINK));
  }

  private setPhase(phase: SessionPhase): void {
    if (phase === this.currentPhase) return;
    this.log.debug({ from: this.currentPhase, to: phase }, 'session phase');
    this.currentPhase = phase;
  }

  private emitEvent(event: SessionEvent): void {
    this.emit('event', event);
  }
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
