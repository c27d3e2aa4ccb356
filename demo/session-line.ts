// One replica's session through rbuddy in a line: its phase and how far it has got (a progress
// bar while the snapshot flows, offsets and lag while the stream flows).
import type { SessionStatus } from '../src/proxy/session-types.js';
import { bar, bytes, count, rate } from './terminal.js';

/** `samples`: the snapshot's bytes relayed so far, over the last second, for its speed. */
export function describeSession(
  session: SessionStatus,
  samples: ReadonlyArray<{ at: number; transferred: number }>,
  live: boolean,
): string {
  const phase = session.phase.padEnd(17);
  const snap = session.snapshot;
  if (session.phase === 'snapshot' && snap !== null) {
    const first = samples[0];
    const last = samples[samples.length - 1];
    const speed =
      first !== undefined && last !== undefined && last.at > first.at
        ? rate(((last.transferred - first.transferred) / (last.at - first.at)) * 1000)
        : '…';
    if (snap.size === null) {
      return `${phase} ${bytes(snap.transferred)} so far (diskless, size unknown)  ${speed}`;
    }
    const fraction = snap.size === 0 ? 1 : snap.transferred / snap.size;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    // Short enough for a 100-column terminal: the bar says the phase.
    return `snapshot ${bar(fraction, 20, live)} ${percent}  ${bytes(snap.transferred)} / ${bytes(snap.size)}  ${speed}`;
  }
  if (session.phase === 'streaming') {
    const ack =
      session.lastAck === null
        ? 'loading, no ACK yet'
        : `acked ${count(session.lastAck.offset)}  lag ${bytes(session.lagBytes ?? 0)}`;
    return `${phase} offset ${count(session.offset ?? 0)}  ${ack}`;
  }
  if (session.phase === 'waiting-snapshot') {
    return `${phase} the master is writing its snapshot (BGSAVE)`;
  }
  if (session.phase === 'handshake') return `${phase} waiting for the master to answer`;
  return phase;
}
