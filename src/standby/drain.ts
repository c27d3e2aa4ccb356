// When a switch's drain is over and the old active may be retired (docs/design.md, "Restart and
// reconciliation"). The drain gives the old active's clients --drain-ms to hear of the switch
// and move before it is flushed. A Sentinel client subscribed to an rbuddy process that died
// after the switch hears of it only once it has reconnected to the next process, which publishes
// the switch again (PubSubHub.resumeSwitch): so a process that resumes a switch drains for a full
// --drain-ms from its own start, not from the switch time it read back from the state file.
import type { FailoverRecord } from './persisted-state.js';

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
