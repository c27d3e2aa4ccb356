// When a switch's drain is over and the old active may be retired (docs/design.md, "Restart and
// reconciliation"). The drain gives the old active's clients --drain-ms to hear of the switch
// and move before it is flushed. A Sentinel client subscribed to an rbuddy process that died
// after the switch hears of it only once it has reconnected to the next process, which publishes
// the switch again (PubSubHub.resumeSwitch): so a process that resumes a switch drains for a full
// --drain-ms from its own start, not from the switch time it read back from the state file.
//
// In a group of instances (docs/design.md, "High availability") the other instances name the
// active from the state as they last read it, each for at most a lease after that read: the
// retire also waits `retireAfterSwitchMs` (more than a lease) from the moment this process knew
// the switch saved, so that no instance can still name the old active when it is flushed.
import type { FailoverRecord } from './persisted-state.js';

export interface DrainConfig {
  drainMs: number;
  /**
   * With --etcd: the least time between the switch saved and the retire (a lease and a margin,
   * src/ha/view-freshness.ts). Unset when alone: --drain-ms only.
   */
  retireAfterSwitchMs?: number;
}

export interface DrainObservations {
  now: number;
  /** When this process started acting: a switch it resumed drains from here. */
  startedAt: number;
  /**
   * How long this process has known the current switch saved, on a monotonic clock (SwitchAge);
   * undefined while no switch is being drained.
   */
  switchAgeMs?: number | undefined;
}

/**
 * When the retire of a switched failover may run (ms since the epoch): --drain-ms after the
 * later of the switch and `startedAt`, when this process started acting.
 */
export function drainEndsAt(record: FailoverRecord, startedAt: number, drainMs: number): number {
  // verifiedAt is stamped in the same write that switched the roles.
  const switchedAt = Date.parse(
    record.verifiedAt ??
      [...record.timeline].reverse().find((entry) => entry.step === 'switched')?.at ??
      '',
  );
  return (Number.isFinite(switchedAt) ? Math.max(switchedAt, startedAt) : startedAt) + drainMs;
}

/** Why the old active may not be retired yet, or undefined once both waits are over. */
export function drainWait(
  record: FailoverRecord,
  obs: DrainObservations,
  config: DrainConfig,
): string | undefined {
  if (obs.now < drainEndsAt(record, obs.startedAt, config.drainMs)) {
    return 'draining clients from the old active';
  }
  const least = config.retireAfterSwitchMs ?? 0;
  if ((obs.switchAgeMs ?? 0) < least) {
    return `draining: the other instances may name the old active until ${least} ms after the switch`;
  }
  return undefined;
}

/**
 * How long this process has known the current switch saved: from the first round that saw the
 * persisted state switched (after its save was acknowledged, or after it was read back at a
 * restart or a takeover), on a monotonic clock, so that a step of the wall clock cannot shorten it.
 */
export class SwitchAge {
  private seen: { epoch: number; at: number } | undefined;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** The age of the switch of `epoch` when `switched`, else undefined (and forgotten). */
  of(epoch: number, switched: boolean): number | undefined {
    if (!switched) {
      this.seen = undefined;
      return undefined;
    }
    const now = this.clock();
    if (this.seen?.epoch !== epoch) this.seen = { epoch, at: now };
    return now - this.seen.at;
  }
}
