// Act 2: the dataset the standby will have to full-sync later, and a writer that keeps the
// master busy from now on.
import { info, populate, startWriter, type Writer } from '../../harness/replication.js';
import { keyCount } from '../probes.js';
import { owned, term } from '../run-state.js';
import { DATASET_MIB, DBS, READER_KEY, READER_VALUE } from '../settings.js';
import { count, seconds } from '../terminal.js';
import type { Nodes } from './start-nodes.js';

export interface Load {
  /** Keys the master holds once populated (every db). */
  keys: number;
  writer: Writer;
}

export async function loadData({ master, masterClient }: Nodes): Promise<Load> {
  term.heading(`2. Load ${DATASET_MIB} MiB into the master`);
  const loadStart = Date.now();
  await populate(masterClient, { megabytes: DATASET_MIB, dbs: [...DBS] });
  await masterClient.set(READER_KEY, READER_VALUE);
  const keys = await keyCount(master);
  const memory = (await info(masterClient, 'memory'))['used_memory_human'] ?? '?';
  term.line(
    `  ${count(keys)} keys over dbs ${DBS.join(', ')} (random 1000-byte values plus every data type), ` +
      `used_memory ${memory}, loaded in ${seconds(Date.now() - loadStart)}`,
  );
  const writer = startWriter(masterClient, { keyPrefix: 'demo:writer', intervalMs: 5 });
  owned.writer = writer;
  term.line('  a writer sends SET/INCR/LPUSH/HSET/EXPIRE pipelines to the master from now on');
  return { keys, writer };
}
