// Like Redis's repl-timeout, on both sides of a session: a master that sends nothing for the
// timeout is gone (it PINGs its replicas every repl-ping-replica-period, 10 s by default), and
// so is a streaming replica (it ACKs every second from replicationCron, and sends newlines
// while it loads) — even if neither socket ever says so.
//
// Silence is judged on reads alone: a socket's own timeout counts writes as activity too, and
// the replica's REPLCONF ACK goes upstream every second, so it would never fire.

export interface SilenceWatchOptions {
  timeoutMs: number;
  now: () => number;
  /** Reads so far from each side; the watch compares them between its ticks. */
  reads: () => { fromMaster: number; fromReplica: number };
  /**
   * The master is held back for a slow replica: the link is quiet by the proxy's own doing, and
   * the replica's drain timeout judges that case.
   */
  holdingMaster: () => boolean;
  /** Only a streaming replica must talk; one in its handshake or snapshot may stay quiet. */
  replicaStreaming: () => boolean;
  onMasterSilent: (silentMs: number) => void;
  onReplicaSilent: (silentMs: number) => void;
}

export class SilenceWatch {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SilenceWatchOptions) {}

  start(): void {
    const { timeoutMs, now, reads } = this.options;
    const tickMs = Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
    let seen = reads();
    let masterQuietSince = now();
    let replicaQuietSince = now();
    this.timer = setInterval(() => {
      const at = now();
      const current = reads();
      if (current.fromMaster !== seen.fromMaster || this.options.holdingMaster()) {
        masterQuietSince = at;
      } else if (at - masterQuietSince >= timeoutMs) {
        this.stop();
        this.options.onMasterSilent(timeoutMs);
        return;
      }
      // A dead replica session would otherwise keep explaining that node's handshake and hold
      // its reconnection back (see the replica matcher's rivals).
      if (current.fromReplica !== seen.fromReplica || !this.options.replicaStreaming()) {
        replicaQuietSince = at;
      } else if (at - replicaQuietSince >= timeoutMs) {
        this.stop();
        this.options.onReplicaSilent(timeoutMs);
        return;
      }
      seen = current;
    }, tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
