// A replica's own account of its resync, read from its redis-server log.
import type { RedisServer } from '../harness/redis-server.js';

const SYNC_LOG_LINE =
  /^(MASTER <-> REPLICA sync|Full resync from master|Partial resynchronization|Trying a partial|Done loading)/;

/**
 * The replica's log lines about its resync (MASTER <-> REPLICA sync…, Full resync…, loading)
 * from the kill on, as `+s.ss s what` (repeats while the master is away collapsed into one
 * `×n`). Redis stamps them in local time: read as UTC, the zone of the machines this runs on;
 * if that puts them outside the run, they are shown with their own stamps.
 */
export function syncLog(replica: RedisServer, killAt: number): string {
  const months = 'JanFebMarAprMayJunJulAugSepOctNovDec';
  const entries = replica
    .logTail(400)
    .split('\n')
    .flatMap((line) => {
      const m = /^\d+:\w (\d+) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3}) [*#.-] (.*)$/.exec(
        line,
      );
      if (m === null) return [];
      const [, day, mon, year, h, min, sec, ms, text = ''] = m;
      if (!SYNC_LOG_LINE.test(text)) return [];
      const what = text.replace(/^MASTER <-> REPLICA sync:? /, '').slice(0, 90);
      const at = Date.UTC(
        Number(year),
        months.indexOf(mon ?? '') / 3,
        Number(day),
        Number(h),
        Number(min),
        Number(sec),
        Number(ms),
      );
      return [{ at, stamp: `${h}:${min}:${sec}.${ms}`, what }];
    });
  const inRun = entries.filter((e) => e.at >= killAt - 1_000);
  const plausible = inRun.length > 0 && inRun.every((e) => e.at - killAt < 600_000);
  const shown: Array<{ at: number; stamp: string; what: string; count: number }> = [];
  for (const entry of plausible ? inRun : entries.slice(-12)) {
    const previous = shown.at(-1);
    if (previous?.what === entry.what) previous.count += 1;
    else shown.push({ ...entry, count: 1 });
  }
  return shown
    .map(
      (e) =>
        `${plausible ? `+${((e.at - killAt) / 1000).toFixed(2)} s` : e.stamp} ${e.what}` +
        (e.count > 1 ? ` ×${e.count}` : ''),
    )
    .join('; ');
}
