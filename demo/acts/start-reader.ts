// Act 4: an application's reader. Before every read it asks rbuddy which replica is the active
// (GET /active); the timeline tells each time it is sent somewhere else.
import { waitFor } from '../../harness/wait-for.js';
import type { FailoverMonitor } from '../monitor.js';
import { Reader } from '../reader.js';
import { owned, term } from '../run-state.js';
import { READER_KEY, READER_VALUE, READS_PER_STAGE, STEP_TIMEOUT_MS } from '../settings.js';
import { readerText } from '../texts.js';
import type { RbuddyStarted } from './start-rbuddy.js';

/** `httpUrls`: where the reader asks GET /active (every instance of a group, with --ha). */
export async function startReader(
  { rbuddy, monitor }: Pick<RbuddyStarted, 'rbuddy' | 'monitor'>,
  httpUrls: readonly string[] = [rbuddy.httpUrl],
): Promise<Reader> {
  term.heading('4. A reader follows GET /active');
  const reader = new Reader(httpUrls, READER_KEY, READER_VALUE);
  owned.reader = reader;
  tellReaderMoves(reader, monitor, 0);
  const asks = httpUrls.map((url) => `${url}/active`).join(' or ');
  monitor.note('reader', 'bold', `starts: GET ${asks}, then GET ${READER_KEY}`);
  await waitFor(() => reader.served >= READS_PER_STAGE, {
    what: `the reader to serve ${READS_PER_STAGE} reads`,
    timeoutMs: STEP_TIMEOUT_MS,
  });
  monitor.note('reader', 'bold', readerText(reader, monitor));
  return reader;
}

/** Has `monitor` put every move of the reader after the first `told` ones on its timeline. */
export function tellReaderMoves(reader: Reader, monitor: FailoverMonitor, told: number): void {
  let targetsTold = told;
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
}
