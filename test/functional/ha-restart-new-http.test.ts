// An instance killed with kill -9 and restarted at once with the same --announce but another
// --http (a changed flag, or an ephemeral admin port), on a real 3-member etcd cluster with real
// redis-servers and the CLI (docs/ha.md, failure modes, "two instances with one --announce"). Its
// earlier run's registration, still on its lease for a few seconds, names another admin address:
// the restarted instance stands back while it lasts, then campaigns: it leads or follows healthy,
// and whichever survives the next kill takes over (the master's sync_full unchanged). Before, it took that
// registration for a second instance given its --announce and never campaigned again, so the
// group had no leader once the other died (reviewer round 6, F3).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { freePort } from '../../harness/processes.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { masterStats, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { followsPort, startHaRig, type HaRig } from '../helpers/ha-rig.js';

let cluster: EtcdCluster;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
});

test('a leader restarted after kill -9 with another --http campaigns again once its earlier registration expired; the survivor of the next kill takes over', async () => {
  const rig = await startHaRig(cluster, { instances: 0, leaseMs: 3_000 });
  rigs.push(rig);
  const listen = `127.0.0.1:${await freePort()}`;
  const http = async (): Promise<string[]> => ['--http', `127.0.0.1:${await freePort()}`];
  const a = await rig.spawn({ listen, extra: await http() });
  await rig.waitFor(a, 'A leads', (s) => s.leader === true && s.state === 'healthy');
  const b = await rig.spawn();
  await rig.waitFor(b, 'B follows', (s) => s.leader === false && s.state === 'healthy');
  const master = rig.master.client();
  const before = await masterStats(master);

  await rig.kill9(a);
  const again = await rig.spawn({ listen, extra: await http() });
  // A's earlier registration and leader key go with one lease: when it expires, either B or the
  // restarted A may win the election. Both must end healthy, one leading: the restarted A stood
  // back only while its earlier run's registration lasted.
  const settled = async (): Promise<
    { leading: RbuddyProcess; other: RbuddyProcess } | undefined
  > => {
    const [sb, sa] = await Promise.all([rig.status(b), rig.status(again)]).catch(() => []);
    if (sb?.state !== 'healthy' || sa?.state !== 'healthy') return undefined;
    if (sb.leader === true && sa.leader === false) return { leading: b, other: again };
    if (sa.leader === true && sb.leader === false) return { leading: again, other: b };
    return undefined;
  };
  const first = await waitFor(settled, {
    what: 'the restarted A and B healthy, one leading',
    timeoutMs: 90_000,
  });
  const other = first.other;
  const status = await rig.status(other);
  assert.equal(status.leaderAnnounce, `127.0.0.1:${first.leading.resp.port}`);

  // The leader dies: the other takes over (the restarted A leads now, or already led).
  await rig.kill9(first.leading);
  await rig.waitFor(other, 'the other leads', (s) => s.leader === true && s.state === 'healthy');
  await waitFor(() => followsPort(rig.active.client(), other.resp.port), {
    what: 'the active streaming through the new leader',
    timeoutMs: 30_000,
  });
  await master.set('ha:after-the-restart', 'relayed');
  await waitForInSync(master, rig.active.client());
  assert.equal(await rig.active.client().get('ha:after-the-restart'), 'relayed');
  assert.equal((await masterStats(master)).syncFull, before.syncFull, 'no full sync');
});
