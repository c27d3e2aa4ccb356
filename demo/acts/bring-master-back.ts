// Act 6: the master restarted from its RDB. The standby full-syncs through rbuddy, the roles
// switch, the old active is flushed to stand by, and the reader moves to the new active.
import type { AppStatus } from '../../src/app.js';
import { waitFor } from '../../harness/wait-for.js';
import { keyCount, untilStatus } from '../probes.js';
import type { Reader } from '../reader.js';
import { expectedDown, owned, term } from '../run-state.js';
import { READS_PER_STAGE, STEP_TIMEOUT_MS } from '../settings.js';
import { count, seconds } from '../terminal.js';
import type { Nodes } from './start-nodes.js';
import type { RbuddyStarted } from './start-rbuddy.js';

export interface Recovery {
  /** Epoch ms: the restart begun, the master answering again. */
  restartAt: number;
  masterBackAt: number;
  /** Keys the master came back with. */
  keysBack: number;
  /** rbuddy's status once healthy again, and when it said so. */
  done: AppStatus;
  healthyAgainAt: number | undefined;
}

export async function bringMasterBack(
  { master }: Nodes,
  { monitor, epochBefore }: RbuddyStarted,
  reader: Reader,
  killedAt: number,
): Promise<Recovery> {
  term.heading('6. Bring the master back: the standby full-syncs through rbuddy');
  monitor.flush();
  const restartAt = Date.now();
  monitor.note('master', 'red', 'redis-server restarts on the same port and dir');
  await master.restart();
  expectedDown.delete(master);
  owned.pids.push({ what: 'redis-server master (restarted)', pid: master.pid });
  const masterBackAt = Date.now();
  const keysBack = await keyCount(master);
  monitor.note(
    'master',
    'red',
    `answers PING again (pid ${master.pid}): dump.rdb loaded, ${count(keysBack)} keys, ` +
      `${seconds(masterBackAt - restartAt)} after the restart`,
    'green',
  );
  const done = await untilStatus(
    monitor,
    'the standby to sync, the roles to switch and the old active to be flushed',
    (s) =>
      s.state === 'healthy' &&
      s.epoch === epochBefore + 1 &&
      s.failover === null &&
      s.lastFailover?.result === 'completed' &&
      monitor.events.some((e) => e.type === 'standby.ready' && e.at >= killedAt) &&
      monitor.states.at(-1)?.to === 'healthy',
  );
  const healthyAgainAt = monitor.states.at(-1)?.at;
  const servedAtSwitch = reader.served;
  await waitFor(() => reader.served >= servedAtSwitch + READS_PER_STAGE, {
    what: 'the reader to read from the new active',
    timeoutMs: STEP_TIMEOUT_MS,
  });
  return { restartAt, masterBackAt, keysBack, done, healthyAgainAt };
}
