// Retry policies are plain functions `(attempt, cause) => delayMs | false`, injected wherever
// something is retried, so that tests can make them instant and no retry loop owns a clock.

export type RetryPolicy = (attempt: number, cause: unknown) => number | false;

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** Give up after this many attempts (default: never). */
  maxAttempts?: number;
  random?: () => number;
}

/**
 * Exponential backoff with equal jitter: with ceiling = min(max, base·2^attempt), a random delay
 * in [ceiling/2, ceiling] (rounded). Half the ceiling is always waited, so a retry never comes
 * back at once; the random half keeps many retriers from arriving together.
 */
export function exponentialBackoff(options: BackoffOptions = {}): RetryPolicy {
  const baseMs = options.baseMs ?? 100;
  const maxMs = options.maxMs ?? 10_000;
  const random = options.random ?? Math.random;
  return (attempt) => {
    if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) return false;
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  };
}
