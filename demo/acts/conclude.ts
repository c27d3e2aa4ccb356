// The end of the story: rbuddy stopped as an operator stops it (SIGTERM, exit 0), the master and
// the new active compared with DEBUG DIGEST, and a summary of how long each step took.
import type { SessionStatus } from '../../src/proxy/session-types.js';
import { digest } from '../../harness/replication.js';
import type { FailoverMonitor } from '../monitor.js';
import type { Reader } from '../reader.js';
import { check, owned, t0, term } from '../run-state.js';
import { SETTINGS, type EXPECTED_EVENTS } from '../settings.js';
import { bytes, count, seconds, table } from '../terminal.js';
import type { StorySoFar } from './story-so-far.js';
import type { Verified } from './verify.js';

/**
 * `extraRows`: more steps for the summary (`--ha`: the takeover), after rbuddy's start;
 * `drainText`: how long the old active is kept after the switch (`--ha`: longer, docs/ha.md).
 */
export async function conclude(
  story: StorySoFar,
  verified: Verified,
  extraRows: string[][] = [],
  drainText = `drain ${seconds(SETTINGS.drainMs)}`,
): Promise<void> {
  const { master, client2 } = story.nodes;
  const { writer } = story.load;
  const { rbuddy, monitor, rbuddyStart, activeSynced, firstSnap, epochBefore } = story.started;
  const { restartAt, masterBackAt, keysBack, done, healthyAgainAt } = story.recovery;
  const { reader, killedAt } = story;
  const { writes, events, standbySnap } = verified;
  const eventAt = (type: (typeof EXPECTED_EVENTS)[number]): number | undefined =>
    events.find((e) => e.type === type)?.at;
  // The drain is timed from the persisted switch, which comes just before its events.
  const stepAt = (step: string): number | undefined => {
    const at = done.lastFailover?.timeline.find((t) => t.step === step)?.at;
    return at === undefined ? undefined : Date.parse(at);
  };
  // A clean stop is part of the contract too: SIGTERM, sessions closed, exit 0.
  owned.rbuddy = undefined;
  rbuddy.child.kill('SIGTERM');
  const exitCode = await rbuddy.exit(15_000).catch(() => 'no exit within 15 s');
  check(exitCode === 0, `rbuddy stopped on SIGTERM with exit code ${String(exitCode)}`);

  // Nothing watches the master now: DEBUG DIGEST may block it as long as it takes.
  const [masterDigest, newActiveDigest] = await Promise.all([
    digest(master.client()),
    digest(client2),
  ]);
  check(
    masterDigest === newActiveDigest,
    `DEBUG DIGEST: master ${masterDigest.slice(0, 16)}…, replica2 ${newActiveDigest.slice(0, 16)}…`,
  );

  summarise({
    rows: [
      [
        'rbuddy started → replica1 synced, healthy',
        span(rbuddyStart, activeSynced),
        snapText(firstSnap),
      ],
      ...extraRows,
      [
        'master killed → master.down',
        span(killedAt, eventAt('master.down')),
        (events.find((e) => e.type === 'master.down')?.reason ?? '').split(':')[0] ?? '',
      ],
      [
        'master killed → active promoted',
        span(killedAt, eventAt('active.promoted')),
        `grace ${seconds(SETTINGS.graceMs)}; replica1 serves stale reads`,
      ],
      [
        'master restarted → answers (RDB loaded)',
        span(restartAt, masterBackAt),
        `${count(keysBack)} keys`,
      ],
      [
        'master back → standby synced',
        span(masterBackAt, eventAt('standby.synced')),
        snapText(standbySnap),
      ],
      [
        'standby synced → switch',
        span(eventAt('standby.synced'), eventAt('failover.completed')),
        `epoch ${epochBefore} → ${String(done.epoch)}, active replica1 → replica2`,
      ],
      [
        'switch → reader on the new active',
        span(eventAt('failover.completed'), reader.targets[1]?.firstAt),
        'its next GET /active',
      ],
      [
        'switch → old active flushed',
        span(stepAt('switched'), stepAt('flushed')),
        `${drainText}; replica1 empty, standing by`,
      ],
      ['master killed → healthy again', span(killedAt, healthyAgainAt), `state ${done.state}`],
      ['whole demo so far', span(t0, Date.now()), ''],
    ],
    reads: reader,
    monitor,
    writes,
    writerErrors: writer.errors,
    digests: { master: masterDigest, active: newActiveDigest },
  });
}

export function span(from: number | undefined, to: number | undefined): string {
  return from === undefined || to === undefined ? '—' : seconds(to - from);
}

function snapText(snap: SessionStatus['snapshot']): string {
  if (snap === null) return 'no snapshot seen';
  const took =
    snap.finishedAt === null ? undefined : Date.parse(snap.finishedAt) - Date.parse(snap.startedAt);
  return `${bytes(snap.size ?? snap.transferred)} snapshot relayed in ${took === undefined ? '—' : seconds(took)}`;
}

interface SummaryInput {
  rows: string[][];
  reads: Reader;
  monitor: FailoverMonitor;
  writes: number;
  writerErrors: number;
  digests: { master: string; active: string };
}

function summarise(input: SummaryInput): void {
  term.heading('Summary');
  const { reads, monitor } = input;
  const perTarget = reads.targets
    .map((t) => `${monitor.nameOf(t.address)} ${count(t.served)}`)
    .join(', then ');
  const failed = `${count(reads.failed)} failed`;
  const rows: string[][] = [
    ['step', 'took', ''],
    ...input.rows,
    ['', '', ''],
    [
      'reads through GET /active',
      `${count(reads.served)} served`,
      reads.failed === 0 ? term.paint('green', failed) : term.paint('red', failed),
    ],
    ['reads per replica', perTarget, ''],
    [
      'writes to the master',
      `${count(input.writes)} acknowledged`,
      `${count(input.writerErrors)} failed while it was down (expected)`,
    ],
    [
      'DEBUG DIGEST master / new active',
      input.digests.master === input.digests.active
        ? term.paint('green', 'equal')
        : term.paint('red', 'DIFFERENT'),
      `${input.digests.master.slice(0, 16)} / ${input.digests.active.slice(0, 16)}`,
    ],
  ];
  for (const line of table(rows)) term.line(`  ${line}`.trimEnd());
  term.line();
}
