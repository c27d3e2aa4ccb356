// Act 4: an application's reader. Before every read it asks rbuddy which replica is the active
// (GET /active); the timeline tells each time it is sent somewhere else.
import { waitFor } from '../../harness/wait-for.js';
import { Reader } from '../reader.js';
import { owned, term } from '../run-state.js';
import { READER_KEY, READER_VALUE, READS_PER_STAGE, STEP_TIMEOUT_MS } from '../settings.js';
import { readerText } from '../texts.js';
import type { RbuddyStarted } from './start-rbuddy.js';

export async function startReader({ rbuddy, monitor }: RbuddyStarted): Promise<Reader> {
  term.heading('4. A reader follows GET /active');
  const reader = new Reader(rbuddy.httpUrl, READER_KEY, READER_VALUE);
  owned.reader = reader;
  let targetsTold = 0;
  monitor.onTick = () => {
    for (const target of reader.targets.slice(targetsTold)) {
      monitor.notePast(
        target.firstAt,
        'reader',
        'bold',
        `${targetsTold === 0 ? 'reads' : 'moved: now reads'} ${monitor.nameOf(target.address)} (${target.url}, as GET /active says)`,
        targetsTold === 0 ? undefined : 'green',
      );
      targetsTold += 1;
    }
  };
  monitor.note('reader', 'bold', `starts: GET ${rbuddy.httpUrl}/active, then GET ${READER_KEY}`);
  await waitFor(() => reader.served >= READS_PER_STAGE, {
    what: `the reader to serve ${READS_PER_STAGE} reads`,
    timeoutMs: STEP_TIMEOUT_MS,
  });
  monitor.note('reader', 'bold', readerText(reader, monitor));
  return reader;
}
