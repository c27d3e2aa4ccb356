// DEBUG DIGEST of the master and the active at a quiet point: the writer is paused (SIGSTOP),
// and once the active has processed everything the master sent (equal replication offsets,
// read from INFO replication), both datasets must hash alike.
import type { Redis } from 'ioredis';
import type { Checker } from './checker.js';
import type { ChaosTopology } from './topology.js';

const SETTLE_MS = 5_000;

/**
 * At a quiet point or the settled end (`final`), with the writer paused and no fault able to
 * start: the active must catch up with the master, so offsets that never meet are a violation
 * (reviewer R11c, C1: an active silently behind passed every check when this was only noted),
 * unless rbuddy left `healthy`, named another active or its link stopped streaming meanwhile: a
 * failover the last faults called for, begun after the check did (`unsettled`: noted; at the end
 * the caller settles again).
 */
export const DIGEST_CHECK = 'DEBUG DIGEST of master and active equal when quiet';

export async function digestCheck(
  topo: ChaosTopology,
  checker: Checker,
  active: string,
  final = false,
): Promise<'done' | 'unsettled'> {
  const replica = topo.replicaByAddress(active);
  const writer = topo.writer;
  if (replica === undefined || writer === undefined) return 'done';
  const master = topo.master.client({ commandTimeout: 2000, maxRetriesPerRequest: 0 });
  const node = replica.client({ commandTimeout: 2000, maxRetriesPerRequest: 0 });
  master.on('error', () => undefined);
  node.on('error', () => undefined);
  writer.kill('SIGSTOP');
  try {
    const deadline = Date.now() + SETTLE_MS;
    while (Date.now() < deadline) {
      const [m, a] = await Promise.all([offset(master), offset(node)]);
      if (m !== undefined && m === a) {
        const [dm, da] = await Promise.all([
          master.call('DEBUG', 'DIGEST'),
          node.call('DEBUG', 'DIGEST'),
        ]);
        // The offsets must still agree after the digests (a PING from the master in between).
        const [m2, a2] = await Promise.all([offset(master), offset(node)]);
        if (m2 !== m || a2 !== a) continue;
        checker.history.record('digest', active, {
          ok: dm === da,
          data: { master: dm, active: da, offset: m },
        });
        checker.digests[final ? 'final' : 'midRun'] += 1;
        checker.check(DIGEST_CHECK, dm === da, 'digests differ', {
          master: dm,
          active: da,
          offset: m,
        });
        return 'done';
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const now = await topo.status();
    const streaming = now?.sessions.some(
      (session) => session.replica === active && session.phase === 'streaming',
    );
    if (now?.state !== 'healthy' || now.active !== active || streaming !== true) {
      checker.history.record('digest', active, {
        ok: false,
        data: { unsettled: `rbuddy ${now?.state ?? 'not answering'}, active ${now?.active}` },
      });
      checker.skip(DIGEST_CHECK);
      return 'unsettled';
    }
    checker.history.record('digest', active, {
      ok: false,
      data: { behind: 'offsets did not meet in 5 s', final },
    });
    checker.digests[final ? 'final' : 'midRun'] += 1;
    checker.check(
      DIGEST_CHECK,
      false,
      'the active never caught up with the master while rbuddy said healthy and quiet (replication offsets did not meet in 5 s, the writer paused)',
    );
  } catch (error) {
    checker.history.record('digest', active, { ok: false, data: { skipped: String(error) } });
    checker.skip(DIGEST_CHECK);
  } finally {
    writer.kill('SIGCONT');
    master.disconnect();
    node.disconnect();
  }
  return 'done';
}

async function offset(client: Redis): Promise<number | undefined> {
  const info = await client.info('replication').catch(() => '');
  const match = /master_repl_offset:(\d+)/.exec(info);
  return match === null ? undefined : Number(match[1]);
}
