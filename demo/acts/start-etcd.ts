// `--ha`, act 1b: a 3-member etcd cluster (Debian's etcd-server) on loopback ports, with its own
// temp data dirs: where the two rbuddy instances elect their leader and keep the group's state.
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { owned, term } from '../run-state.js';
import { seconds } from '../terminal.js';

export async function startEtcd(): Promise<EtcdCluster> {
  term.heading('1b. Start a 3-member etcd cluster');
  const startedAt = Date.now();
  const etcd = await startEtcdCluster();
  owned.etcd = etcd;
  for (const member of etcd.members) {
    owned.pids.push({ what: `etcd ${member.name}`, pid: member.pid ?? -1 });
    term.line(`  etcd ${member.name}  clients on ${member.clientUrl} (pid ${String(member.pid)})`);
  }
  term.line(`  healthy, with a quorum, in ${seconds(Date.now() - startedAt)}`);
  return etcd;
}
