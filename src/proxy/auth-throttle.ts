// Slows down password guessing on the RESP port (docs/design.md, "Limits and trust"). Redis has
// no such thing; rbuddy holds the master's credentials, so a guess must cost time. Failures are
// counted per peer IP, because a guesser opens many connections: each failure from an IP doubles
// the wait before that IP's next AUTH is even looked at, up to a ceiling, and an IP that stops
// failing is forgotten after a quiet window. The wait comes before the check, whatever its
// outcome, so that a right guess does not answer sooner than a wrong one.
//
// Pure bookkeeping with an injected clock: the connection does the waiting.
import { normalizeIp } from '../addresses.js';

export interface AuthThrottleOptions {
  /** The wait after the first failure; each further failure doubles it. */
  baseDelayMs?: number;
  /** The ceiling of the wait. */
  maxDelayMs?: number;
  /** An IP with no failure for this long starts again from no wait. */
  forgetAfterMs?: number;
  /** IPs remembered at most (the oldest is forgotten first), so a spray of IPs costs bounded memory. */
  maxTrackedPeers?: number;
  now?: () => number;
}

const AUTH_THROTTLE_DEFAULTS = {
  baseDelayMs: 50,
  maxDelayMs: 2_000,
  forgetAfterMs: 60_000,
  maxTrackedPeers: 10_000,
} as const;

/** Wrong passwords on one connection after which it is closed (it may reconnect, and wait). */
export const AUTH_MAX_FAILURES_PER_CONNECTION = 5;

interface PeerRecord {
  failures: number;
  lastFailureAt: number;
}

export class AuthThrottle {
  private readonly peers = new Map<string, PeerRecord>();
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxTrackedPeers: number;
  private readonly now: () => number;

  constructor(options: AuthThrottleOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? AUTH_THROTTLE_DEFAULTS.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? AUTH_THROTTLE_DEFAULTS.maxDelayMs;
    this.forgetAfterMs = options.forgetAfterMs ?? AUTH_THROTTLE_DEFAULTS.forgetAfterMs;
    this.maxTrackedPeers = options.maxTrackedPeers ?? AUTH_THROTTLE_DEFAULTS.maxTrackedPeers;
    this.now = options.now ?? Date.now;
  }

  /** How long an AUTH from this IP must wait before it is checked (0: at once). */
  delayFor(ip: string): number {
    const record = this.current(normalizeIp(ip));
    if (record === undefined) return 0;
    const delay = this.baseDelayMs * 2 ** Math.min(record.failures - 1, 30);
    return Math.min(delay, this.maxDelayMs);
  }

  /** Records a wrong password from this IP; returns the IP's failures in the current window. */
  recordFailure(ip: string): number {
    const key = normalizeIp(ip);
    const failures = (this.current(key)?.failures ?? 0) + 1;
    // Re-inserted so that the Map's order is least recently failed first.
    this.peers.delete(key);
    this.peers.set(key, { failures, lastFailureAt: this.now() });
    while (this.peers.size > this.maxTrackedPeers) {
      const oldest = this.peers.keys().next();
      if (oldest.done === true) break;
      this.peers.delete(oldest.value);
    }
    return failures;
  }

  /** IPs with failures remembered (status, tests). */
  get trackedPeers(): number {
    return this.peers.size;
  }

  private current(key: string): PeerRecord | undefined {
    const record = this.peers.get(key);
    if (record === undefined) return undefined;
    if (this.now() - record.lastFailureAt >= this.forgetAfterMs) {
      this.peers.delete(key);
      return undefined;
    }
    return record;
  }
}
