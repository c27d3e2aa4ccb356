// The failover story, act by act (each in demo/acts/): what happens to a replica applications
// read when its master dies and comes back with a full resync, with rbuddy in between. Every act
// prints what it does and checks what it claims (`check` in run-state.ts).
import { bringMasterBack } from './acts/bring-master-back.js';
import { conclude } from './acts/conclude.js';
import { killMaster } from './acts/kill-master.js';
import { loadData } from './acts/load-data.js';
import { startNodes } from './acts/start-nodes.js';
import { startRbuddy } from './acts/start-rbuddy.js';
import { startReader } from './acts/start-reader.js';
import { verify } from './acts/verify.js';
import { term } from './run-state.js';

const INTRO = [
  'A master, two replicas and rbuddy, all on local ephemeral ports. rbuddy attaches replica1',
  '(the active) to the master through itself and holds replica2 (the standby): empty, a replica',
  'of rbuddy that refuses reads and writes. A writer keeps the master busy; a reader asks',
  'GET /active before every read.',
  'Then the master is killed (kill -9): rbuddy promotes the active, which keeps serving; the',
  'master comes back from its RDB; the standby full-syncs through rbuddy; the roles switch and',
  'the old active is flushed to stand by. Every claim is checked; the exit code says if all held.',
];

export async function story(): Promise<void> {
  term.line(term.paint('bold', 'rbuddy demo: the master dies, the reads go on'));
  term.line();
  for (const line of INTRO) term.line(line);

  const nodes = await startNodes();
  const load = await loadData(nodes);
  const started = await startRbuddy(nodes, load.writer);
  const reader = await startReader(started);
  const killedAt = await killMaster(nodes, load, started, reader);
  const recovery = await bringMasterBack(nodes, started, reader, killedAt);
  const soFar = { nodes, load, started, reader, killedAt, recovery };
  const verified = await verify(soFar);
  await conclude(soFar, verified);
}
