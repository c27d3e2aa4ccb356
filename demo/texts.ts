// How the demo words what its own peers are doing: the reader, the writer, an error.
import type { Writer } from '../harness/replication.js';
import type { FailoverMonitor } from './monitor.js';
import type { Reader } from './reader.js';
import { term } from './run-state.js';
import { count } from './terminal.js';

export function readerText(reader: Reader, monitor: FailoverMonitor): string {
  const where =
    reader.current === undefined ? '' : ` · reading ${monitor.nameOf(reader.current.address)}`;
  return `${count(reader.served)} served · ${count(reader.failed)} failed${where}`;
}

export function readerLine(reader: Reader, monitor: FailoverMonitor): string {
  const tone = reader.failed === 0 ? 'green' : 'red';
  return `${term.paint('bold', 'reader'.padEnd(9))}${term.paint(tone, readerText(reader, monitor))}`;
}

export function writerText(writer: Writer): string {
  const errors =
    writer.errors === 0 ? '' : ` · ${count(writer.errors)} failed while the master was down`;
  return `${count(writer.writes)} writes acknowledged by the master${errors}`;
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
