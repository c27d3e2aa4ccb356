// Warnings that a peer can repeat at will (a failing webhook, a stream of bad requests) must not
// flood the log: the first one per key and interval is a warning, the rest go to debug and are
// counted, and the next warning says how many were held back.
import type { Logger } from 'pino';

export interface WarnThrottleOptions {
  intervalMs: number;
  /** Milliseconds; injectable so tests control the windows. */
  now?: () => number;
}

export class WarnThrottle {
  private readonly windows = new Map<string, { startedAt: number; suppressed: number }>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(options: WarnThrottleOptions) {
    this.intervalMs = options.intervalMs;
    this.now = options.now ?? Date.now;
  }

  /** `key` names the kind of warning: keep the set of keys small (never a client address). */
  warn(logger: Logger, key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    const window = this.windows.get(key);
    if (window !== undefined && now - window.startedAt < this.intervalMs) {
      window.suppressed += 1;
      logger.debug(fields, message);
      return;
    }
    this.windows.set(key, { startedAt: now, suppressed: 0 });
    const suppressed = window?.suppressed ?? 0;
    logger.warn(suppressed === 0 ? fields : { ...fields, suppressed }, message);
  }
}
