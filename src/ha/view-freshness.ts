// When an instance that does not act may name a node from its view of the group's state
// (docs/design.md, "High availability"; docs/ha.md, "What an instance names"). A follower knows
// the state only as it last read it from etcd; cut off from etcd (or woken from a pause), that
// view may be older than a switch the leader made, and naming the old active after the leader has
// flushed it sends readers to an empty node. Two halves make a guarantee of it:
//
// - a view is fresh for a lease after the successful read that made it, counted from when the
//   read was SENT (etcd's reads are linearizable: the answer is at least as new as the moment the
//   request left), and only a fresh view names a node; freshness is computed when the answer is
//   given, so a process woken from SIGSTOP answers "unknown" at once;
// - the leader retires (flushes) the outgoing active no sooner than `retireAfterSwitchMs` after it
//   knew the switch saved (drain.ts): by then every view read before the switch
//   committed has expired, and every view read after it names the new active.
//
// Both sides measure on their own monotonic clock: only the clocks' rates must agree, which the
// margin covers, with an answer's way to its client.

/** Freshness of this instance's view of the group's state. */
export class ViewFreshness {
  /** When the read behind the current view was sent; -Infinity: no view read yet. */
  private readSentAt = Number.NEGATIVE_INFINITY;

  /** `leaseMs`: how long a view is trusted, asked at each answer (the group's may be read later). */
  constructor(
    private readonly leaseMs: () => number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The time to pass to {@link read} once the read about to be sent answered. */
  sending(): number {
    return this.now();
  }

  /** A read sent at `sentAt` returned the group's state: the view is at least that new. */
  read(sentAt: number): void {
    if (sentAt > this.readSentAt) this.readSentAt = sentAt;
  }

  /** The view is fresh now. */
  fresh(): boolean {
    return this.now() - this.readSentAt < this.leaseMs();
  }

  /** Why the view may be stale now (for status and the answers), undefined while fresh. */
  staleness(): string | undefined {
    const age = this.now() - this.readSentAt;
    if (age < this.leaseMs()) return undefined;
    const read = Number.isFinite(age)
      ? `last read from etcd ${(age / 1000).toFixed(1)} s ago`
      : 'never read from etcd';
    return `this instance's view of the group is older than the lease (${read}), so it names no node: ask another instance`;
  }
}

/**
 * How long after the switch is saved the leader waits before it retires the outgoing active:
 * a lease (the longest any other instance may name the old active from a view read before the
 * switch), plus a retry period of margin.
 */
export function retireAfterSwitchMs(leaseMs: number): number {
  return leaseMs + Math.floor(leaseMs / 5);
}
