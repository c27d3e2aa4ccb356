// This process's run id: 40 random hex digits drawn at start, as Redis and Sentinel draw theirs
// (`server.runid`, INFO's `run_id`). Unlike `SENTINEL myid` (a digest of the group and the
// --announce, the same for every process given that address), it tells two processes apart:
// an instance checking its own --announce (docs/ha.md) asks for both.
import { randomBytes } from 'node:crypto';

export const PROCESS_RUN_ID = randomBytes(20).toString('hex');
