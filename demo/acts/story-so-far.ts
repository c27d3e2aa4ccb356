// What acts 1 to 6 leave behind for the checks and the summary at the end.
import type { Reader } from '../reader.js';
import type { Recovery } from './bring-master-back.js';
import type { Load } from './load-data.js';
import type { Nodes } from './start-nodes.js';
import type { RbuddyStarted } from './start-rbuddy.js';

export interface StorySoFar {
  nodes: Nodes;
  load: Load;
  started: RbuddyStarted;
  reader: Reader;
  /** When the master was killed (epoch ms). */
  killedAt: number;
  recovery: Recovery;
}
