// The leader's clock (docs/design.md, "High availability"), as client-go's leader election sets
// it: etcd expires a lease TTL after the last keepalive it received, and that keepalive left this
// process before etcd received it, so the lease cannot expire in etcd before
// `sent + TTL` (measured on our monotonic clock; only the clocks' rates need to agree, not their
// times). The leader acts only until `sent + renewDeadline`, a third of the lease earlier: the
// margin covers a step that began just before the deadline and clock-rate drift, so that a
// deposed leader has stopped before any other instance can be elected.

export interface LeaseTiming {
  /** The TTL granted by etcd, in its unit. */
  readonly ttlSeconds: number;
  readonly leaseMs: number;
  /** How long after a renewal was SENT the leader may still act. */
  readonly renewDeadlineMs: number;
  /** Between two renewals (and two reads of the leader key by a follower). */
  readonly retryPeriodMs: number;
  /** The deadline of every etcd call: shorter than a retry period, so calls never pile up. */
  readonly callTimeoutMs: number;
}

export function leaseTiming(leaseMs: number): LeaseTiming {
  if (!Number.isInteger(leaseMs) || leaseMs < 2_000 || leaseMs % 1_000 !== 0) {
    throw new RangeError(`lease must be whole seconds of at least 2 s, got ${leaseMs} ms`);
  }
  const retryPeriodMs = Math.floor(leaseMs / 5);
  return {
    ttlSeconds: leaseMs / 1_000,
    leaseMs,
    renewDeadlineMs: Math.floor((leaseMs * 2) / 3),
    retryPeriodMs,
    callTimeoutMs: retryPeriodMs,
  };
}

/** Whether a leader whose last successful renewal was sent at `renewSentAt` may still act. */
export function withinRenewDeadline(
  timing: LeaseTiming,
  renewSentAt: number,
  now: number,
): boolean {
  return now - renewSentAt < timing.renewDeadlineMs;
}

/** When the lease can expire in etcd at the earliest, counted from the renewal's sending. */
export function leaseRemainingMs(ttlMs: number, renewSentAt: number, now: number): number {
  return Math.max(0, renewSentAt + ttlMs - now);
}
