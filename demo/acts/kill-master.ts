// Act 5: the master's data made durable (BGSAVE), then the master killed with SIGKILL. rbuddy
// promotes the active, which goes on serving reads and refuses writes loudly.
import { info } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { keyCount, untilStatus } from '../probes.js';
import type { Reader } from '../reader.js';
import { check, expectedDown, term } from '../run-state.js';
import { READS_PER_STAGE, STEP_TIMEOUT_MS } from '../settings.js';
import { count, seconds } from '../terminal.js';
import { message, readerText } from '../texts.js';
import type { Load } from './load-data.js';
import type { Nodes } from './start-nodes.js';
import type { RbuddyStarted } from './start-rbuddy.js';

/** Returns when the master was killed (epoch ms). */
export async function killMaster(
  { master, masterClient, server1, client1 }: Nodes,
  { keys }: Load,
  { monitor }: RbuddyStarted,
  reader: Reader,
): Promise<number> {
  term.heading('5. BGSAVE, then kill -9 the master');
  monitor.flush();
  // BGSAVE, not SAVE: SAVE blocks the master for as long as it writes (seconds for this dataset),
  // and rbuddy's 250 ms health probe rightly takes a master that does not answer for dead.
  const saveStart = Date.now();
  const savesBefore = Number((await info(masterClient, 'persistence'))['rdb_saves']);
  await masterClient.bgsave();
  await waitFor(
    async () => {
      const p = await info(masterClient, 'persistence');
      if (p['rdb_last_bgsave_status'] !== 'ok') throw new Error('BGSAVE failed');
      return p['rdb_bgsave_in_progress'] === '0' && Number(p['rdb_saves']) > savesBefore;
    },
    { what: 'the BGSAVE to finish', timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
  );
  monitor.note(
    'master',
    'red',
    `BGSAVE: dump.rdb written in ${seconds(Date.now() - saveStart)}, the master serving all along`,
  );
  expectedDown.add(master);
  const killedAt = Date.now();
  monitor.note('master', 'red', `kill -9 ${master.pid}`, 'red');
  await master.kill9();
  const promotedStatus = await untilStatus(
    monitor,
    'the active to be promoted and the standby attached',
    (s) => s.failover?.step === 'syncing',
  );
  const promoted = await info(client1, 'replication');
  const promotedKeys = await keyCount(server1);
  check(
    promoted['role'] === 'master' && promotedKeys >= keys,
    `replica1 promoted: role ${String(promoted['role'])}, still holding ${count(promotedKeys)} keys`,
  );
  const refused = await client1.set('demo:write-to-promoted', 'x').then(
    () => 'accepted',
    (error: unknown) => message(error),
  );
  check(
    /NOREPLICAS/.test(refused),
    `a write to the promoted active fails loudly: ${refused.split('\n')[0] ?? ''}`,
  );
  check(
    promotedStatus.state === 'failing-over',
    `rbuddy is ${promotedStatus.state}: ${promotedStatus.reason ?? ''}`,
  );
  const servedAtPromotion = reader.served;
  await waitFor(() => reader.served >= servedAtPromotion + READS_PER_STAGE, {
    what: 'the reader to go on reading from the promoted active',
    timeoutMs: STEP_TIMEOUT_MS,
  });
  monitor.note(
    'reader',
    'bold',
    `still served while the master is away (stale reads): ${readerText(reader, monitor)}`,
  );
  return killedAt;
}
