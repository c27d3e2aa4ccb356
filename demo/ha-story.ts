// `npm run demo -- --ha`: the failover story with no single point of failure (docs/ha.md). Two
// rbuddy instances of one group on a 3-member etcd cluster; the leader is killed (kill -9) and the
// other takes over: the active continues through it with +CONTINUE (no full sync) and the reader,
// asking either instance, fails no read. Then the master is killed and the new leader completes
// the failover the plain demo shows. The acts are the plain demo's (demo/acts/), plus the etcd
// cluster, the group and the takeover.
import { bringMasterBack } from './acts/bring-master-back.js';
import { conclude, span } from './acts/conclude.js';
import { killMaster } from './acts/kill-master.js';
import { loadData } from './acts/load-data.js';
import { startEtcd } from './acts/start-etcd.js';
import { startGroup } from './acts/start-group.js';
import { startNodes } from './acts/start-nodes.js';
import { startReader } from './acts/start-reader.js';
import { takeOver } from './acts/take-over.js';
import { verify } from './acts/verify.js';
import { term } from './run-state.js';
import { HA_BACKLOG, HA_LEASE_MS, SETTINGS } from './settings.js';
import { seconds } from './terminal.js';
import { retireAfterSwitchMs } from '../src/ha/view-freshness.js';

const INTRO = [
  'A master, two replicas and two rbuddy instances of one group on a 3-member etcd cluster, all',
  'on local ephemeral ports. The instance elected through etcd attaches replica1 (the active) to',
  'the master through itself and holds replica2 (the standby); the other follows and names the',
  'leader. A writer keeps the master busy; a reader asks GET /active of either instance.',
  'The leader is killed (kill -9): the other takes over, the active PSYNCs through it and gets',
  '+CONTINUE (no full sync). Then the master is killed, and the new leader carries the failover',
  'through. Every claim is checked; the exit code says if all held.',
];

export async function haStory(): Promise<void> {
  term.line(
    term.paint('bold', 'rbuddy demo --ha: the leader dies, then the master; the reads go on'),
  );
  term.line();
  for (const line of INTRO) term.line(line);

  // A takeover is a reconnect of the active: the master answers +CONTINUE only while its backlog
  // still holds everything written since the dead leader relayed its last byte (a lease and a
  // probe later). Redis's default 1 MB is a few seconds of the demo's writer; an operator sizes
  // it for the write rate in the same way (docs/ha.md).
  const nodes = await startNodes({ 'repl-backlog-size': HA_BACKLOG });
  const etcd = await startEtcd();
  const load = await loadData(nodes);
  const group = await startGroup(nodes, load.writer, etcd);
  const reader = await startReader(group.started, [
    group.leader.rbuddy.httpUrl,
    group.follower.rbuddy.httpUrl,
  ]);
  const takeover = await takeOver(nodes, load, group, reader);
  const started = takeover.started;
  const killedAt = await killMaster(nodes, load, started, reader);
  const recovery = await bringMasterBack(nodes, started, reader, killedAt);
  const soFar = { nodes, load, started, reader, killedAt, recovery };
  const verified = await verify(soFar);
  await conclude(
    soFar,
    verified,
    [
      [
        `${group.leader.name} killed → ${group.follower.name} leads`,
        span(takeover.killedAt, takeover.ledAt),
        'lease expired in etcd, election',
      ],
      [
        `${group.leader.name} killed → active streaming again`,
        span(takeover.killedAt, takeover.continuedAt),
        'PSYNC through the new leader: +CONTINUE',
      ],
    ],
    `drain ${seconds(SETTINGS.drainMs)}, and ${seconds(retireAfterSwitchMs(HA_LEASE_MS))} after the switch in a group`,
  );
}
