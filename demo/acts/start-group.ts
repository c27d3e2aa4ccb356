// `--ha`, act 3: two instances of the rbuddy CLI in one group on etcd (docs/ha.md), each with its
// own fixed --listen (its announce: the replicas and the other instance dial it) and admin port.
// One is elected; it attaches the active through itself and holds the standby. The other follows:
// it answers discovery and GET /active from the state in etcd and names the leader.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppStatus } from '../../src/app.js';
import type { EtcdCluster } from '../../harness/etcd-cluster.js';
import { freePort } from '../../harness/processes.js';
import { cliStatus, spawnRbuddy, type RbuddyProcess } from '../../harness/rbuddy-process.js';
import type { Writer } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { check, owned, rememberRbuddy, term } from '../run-state.js';
import { HA_LEASE_MS, STEP_TIMEOUT_MS } from '../settings.js';
import { seconds } from '../terminal.js';
import type { Nodes } from './start-nodes.js';
import { rbuddyArgs, untilAttached, watchRbuddy, type RbuddyStarted } from './start-rbuddy.js';

/** One instance of the group: its process and the name the demo gives it. */
export interface Instance {
  name: string;
  rbuddy: RbuddyProcess;
  /** Its --announce (`host:port`): its --listen here. */
  announce: string;
}

export interface GroupStarted {
  /** The elected instance, watched by `started.monitor`. */
  started: RbuddyStarted;
  leader: Instance;
  follower: Instance;
  /** The name the demo gives an instance's announce address. */
  nameOf: (announce: string | null | undefined) => string;
}

export async function startGroup(
  nodes: Nodes,
  writer: Writer,
  etcd: EtcdCluster,
): Promise<GroupStarted> {
  term.heading('3. Start two rbuddy instances of one group: one leads, the other follows');
  const rbuddyStart = Date.now();
  const instances: Instance[] = [];
  for (const name of ['rbuddy-a', 'rbuddy-b']) {
    const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-demo-state-'));
    owned.dirs.push(stateDir);
    const listen = `127.0.0.1:${await freePort()}`;
    const args = [
      ...rbuddyArgs(nodes, listen, stateDir),
      ...['--etcd', etcd.clientUrls.join(','), '--etcd-lease-ms', String(HA_LEASE_MS)],
    ];
    term.line(term.paint('dim', `  $ rbuddy ${args.join(' ')}`));
    const rbuddy = await spawnRbuddy(args);
    owned.group.push(rbuddy);
    owned.pids.push({ what: name, pid: rbuddy.child.pid ?? -1 });
    instances.push({ name, rbuddy, announce: listen });
    term.line(
      `  ${name} (pid ${rbuddy.child.pid}) relays on ${listen}, status at ${rbuddy.httpUrl}/v1/status`,
    );
  }
  const nameOf = (announce: string | null | undefined): string =>
    instances.find((i) => i.announce === announce)?.name ?? String(announce);
  const [leader, follower] = await waitFor(
    async () => {
      const statuses = await Promise.all(
        instances.map((i) => cliStatus(i.rbuddy).catch(() => undefined)),
      );
      const index = statuses.findIndex((s) => s?.leader === true);
      const elected = instances[index];
      const other = instances[1 - index];
      return elected === undefined || other === undefined ? undefined : [elected, other];
    },
    { what: 'an instance to be elected', timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100 },
  );
  term.line(
    `  ${leader.name} was elected (${seconds(Date.now() - rbuddyStart)} after the first start)`,
  );
  // The leader is the rbuddy watched; the follower is watched for an unexpected death only.
  owned.group = [follower.rbuddy];
  owned.rbuddy = leader.rbuddy;
  rememberRbuddy(follower.rbuddy);
  rememberRbuddy(leader.rbuddy);
  const monitor = watchRbuddy(leader.rbuddy, nodes, writer);
  owned.monitor = monitor;
  monitor.start();
  const attached = await untilAttached(monitor, nodes);
  const [led, followed] = await Promise.all([cliStatus(leader.rbuddy), cliStatus(follower.rbuddy)]);
  check(
    led.leader === true && led.leaderAnnounce === leader.announce,
    `${leader.name} leads: /v1/status leader ${String(led.leader)}, leaderAnnounce ${String(led.leaderAnnounce)}`,
  );
  check(
    followed.leader === false &&
      followed.leaderAnnounce === leader.announce &&
      followed.active === nodes.r1.address,
    `${follower.name} follows: leader ${String(followed.leader)}, leaderAnnounce ${nameOf(followed.leaderAnnounce)}, ` +
      `active ${monitor.nameOf(followed.active)} (read from etcd)`,
  );
  return {
    started: { rbuddy: leader.rbuddy, monitor, rbuddyStart, ...attached },
    leader,
    follower,
    nameOf,
  };
}

/** Both instances' view, in a line each (who leads, the lease, the takeovers). */
export function describeInstance(instance: Instance, status: AppStatus): string {
  const lease =
    status.lease?.remainingMs == null
      ? ''
      : `, lease ${seconds(status.lease.remainingMs)} of ${seconds(status.lease.ms)} left`;
  return (
    `${instance.name}: leader ${String(status.leader)}, leaderAnnounce ${String(status.leaderAnnounce)}` +
    `${lease}, takeovers ${String(status.takeovers)}, state ${status.state}`
  );
}
