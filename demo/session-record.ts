// What the demo learns about one session (one replication connection through rbuddy) from
// rbuddy's log and status, and what it has already told about it.
import type { SessionStatus } from '../src/proxy/session-types.js';
import type { TimelineLine } from './timeline.js';

export interface SessionRecord {
  id: string;
  reply: 'fullresync' | 'continue' | undefined;
  snapshot: SessionStatus['snapshot'];
  bytes: SessionStatus['bytes'];
  firstAck: { offset: number; at: number } | undefined;
  closedReason: string | undefined;
  announced: Set<'snapshot' | 'streaming' | 'first-ack'>;
  /** Its "→ handshake" line, while it may still be taken back (see `hideRefusal`). */
  handshakeLine: TimelineLine | undefined;
  samples: Array<{ at: number; transferred: number }>;
  lastPipeLine: number;
  lastPipeProgress: string;
}

/** A session just seen: nothing learnt, nothing told yet. */
export function newSessionRecord(id: string): SessionRecord {
  return {
    id,
    reply: undefined,
    snapshot: null,
    bytes: { fromMaster: 0, toMaster: 0 },
    firstAck: undefined,
    closedReason: undefined,
    announced: new Set(),
    handshakeLine: undefined,
    samples: [],
    lastPipeLine: 0,
    lastPipeProgress: '',
  };
}
