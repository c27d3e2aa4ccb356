// One renewal of an instance's lease (docs/design.md, "High availability"). A keepalive is a
// stream, which etcd3 neither times out nor tries on another member: a renewal whose member is
// down, restarting or hung would fail, and with it the leadership once the renew deadline passes,
// although the other members keep the quorum. So a renewal sends its keepalive to one member
// after another (etcd3 picks each at random, setting aside the ones that just failed) until one
// answers, each attempt bounded, all of them within `until`: the renew deadline, past which a
// renewal no longer keeps the leadership. What counts is when the answered keepalive was sent:
// etcd received it after that, so the lease holds until at least that time + TTL.
import { isBrokenCircuitError } from 'cockatiel';
import type { Lease } from 'etcd3';
import { retryOnAnotherMember, withDeadline } from './etcd-client.js';

/** After an attempt that failed at once (refused, or every member set aside): not a busy loop. */
const RETRY_PAUSE_MS = 50;

export interface Renewal {
  /** When the keepalive that etcd answered was sent (the caller's monotonic clock). */
  sentAt: number;
  ttlSeconds: number;
}

export interface RenewOptions {
  /** The most one attempt may take. */
  attemptMs: number;
  /** No attempt starts (or runs) past this time; at least one attempt is made. */
  until: number;
  /** Monotonic milliseconds. */
  now: () => number;
}

/**
 * Renews `lease`: resolves with the renewal that etcd answered; rejects with the last failure
 * once `until` has passed, or at once with one that another member would give too (a lost lease,
 * refused credentials).
 */
export async function renewLease(
  lease: Pick<Lease, 'keepaliveOnce'>,
  options: RenewOptions,
): Promise<Renewal> {
  const { now } = options;
  for (let attempt = 0; ; attempt += 1) {
    const left = options.until - now();
    const ms = Math.max(1, Math.min(options.attemptMs, attempt === 0 ? options.attemptMs : left));
    const sentAt = now();
    try {
      const response = await withDeadline(
        lease.keepaliveOnce({ deadline: Date.now() + ms }),
        ms,
        'lease keepalive',
      );
      return { sentAt, ttlSeconds: Number(response.TTL) };
    } catch (error) {
      // Every member set aside (each failed a moment ago: etcd electing a new leader, say) is
      // worth waiting out too: a member is tried again a call timeout after it failed.
      if (!retryOnAnotherMember(error) && !isBrokenCircuitError(error)) throw error;
      if (now() + RETRY_PAUSE_MS >= options.until) throw error;
      const elapsed = now() - sentAt;
      if (elapsed < RETRY_PAUSE_MS) await pause(RETRY_PAUSE_MS - elapsed);
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
