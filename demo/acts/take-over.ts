// `--ha`, act 4b: kill -9 the leader. The follower's lease campaign wins once the dead leader's
// lease expires in etcd; it points the active and the standby at its own --announce (docs/ha.md,
// "Takeover"). The active PSYNCs through it and the master answers +CONTINUE: no full sync, and
// the reader, asking GET /active of either instance, never fails a read.
import { killHard } from '../../harness/processes.js';
import { cliStatus } from '../../harness/rbuddy-process.js';
import { info, masterStats } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { heldStandby, untilStatus } from '../probes.js';
import type { Reader } from '../reader.js';
import { check, owned, rememberRbuddy, term } from '../run-state.js';
import { HA_LEASE_MS, READS_PER_STAGE, STEP_TIMEOUT_MS } from '../settings.js';
import { count, seconds } from '../terminal.js';
import { readerText } from '../texts.js';
import type { Load } from './load-data.js';
import type { Nodes } from './start-nodes.js';
import { tellReaderMoves } from './start-reader.js';
import { describeInstance, type GroupStarted } from './start-group.js';
import { watchRbuddy, type RbuddyStarted } from './start-rbuddy.js';

export interface Takeover {
  /** The new leader, watched from now on. */
  started: RbuddyStarted;
  killedAt: number;
  /** When the follower first said it leads, and when the active streamed through it again. */
  ledAt: number;
  continuedAt: number;
}

export async function takeOver(
  nodes: Nodes,
  { writer }: Load,
  group: GroupStarted,
  reader: Reader,
): Promise<Takeover> {
  const { leader, follower, nameOf } = group;
  const { masterClient, client1, client2, r1 } = nodes;
  term.heading(`4b. kill -9 the leader (${leader.name}): ${follower.name} takes over`);
  const old = group.started.monitor;
  old.flush();
  for (const instance of [leader, follower]) {
    term.line(`  ${describeInstance(instance, await cliStatus(instance.rbuddy))}`);
  }
  const before = await masterStats(masterClient);
  const epoch = group.started.epochBefore;
  // From here on the follower is the rbuddy watched: only what it does after the kill is told.
  await old.stop();
  const monitor = watchRbuddy(follower.rbuddy, nodes, writer);
  tellReaderMoves(reader, monitor, reader.targets.length);
  monitor.skipLogs();
  owned.monitor = monitor;
  owned.rbuddy = follower.rbuddy;
  owned.group = [];
  rememberRbuddy(follower.rbuddy);
  monitor.start();
  const killedAt = Date.now();
  monitor.note(
    leader.name,
    'red',
    `kill -9 ${String(leader.rbuddy.child.pid)} (the leader)`,
    'red',
  );
  await killHard(leader.rbuddy.child);

  const led = await untilStatus(monitor, `${follower.name} to lead`, (s) => s.leader === true);
  const ledAt = Date.now();
  monitor.note(
    follower.name,
    'green',
    `leads: /v1/status leader true, leaderAnnounce ${nameOf(led.leaderAnnounce)}, ` +
      `${seconds(ledAt - killedAt)} after the kill (lease ${seconds(HA_LEASE_MS)})`,
    'green',
  );
  const healthy = await untilStatus(
    monitor,
    `the active to stream through ${follower.name} again`,
    (s) =>
      monitor.states.some((c) => c.to !== 'healthy') ||
      (s.leader === true &&
        s.state === 'healthy' &&
        monitor.sessions(r1).some((r) => r.reply === 'continue') &&
        monitor.session(r1)?.phase === 'streaming'),
  );
  // A PSYNC the master answers +FULLRESYNC (its backlog no longer covers the gap) costs a
  // failover instead: rbuddy is right to start one, and the takeover has failed its point.
  const failover = monitor.states.find((c) => c.to !== 'healthy');
  if (failover !== undefined) {
    throw new Error(
      `the takeover cost a failover, not a +CONTINUE: state ${failover.to} (${failover.reason ?? 'no reason'})`,
    );
  }
  const continuedAt = Date.now();
  const servedAtTakeover = reader.served;
  await waitFor(() => reader.served >= servedAtTakeover + READS_PER_STAGE, {
    what: `the reader to go on reading after the takeover`,
    timeoutMs: STEP_TIMEOUT_MS,
  });
  monitor.note('reader', 'bold', `through the takeover: ${readerText(reader, monitor)}`);
  const after = await masterStats(masterClient);
  monitor.flush();

  check(
    healthy.leaderAnnounce === follower.announce && healthy.takeovers === 1,
    `${follower.name} leads: leaderAnnounce ${String(healthy.leaderAnnounce)}, takeovers ${String(healthy.takeovers)}, ` +
      `state ${healthy.state}, ${seconds(ledAt - killedAt)} after the kill`,
  );
  check(
    healthy.epoch === epoch && healthy.active === r1.address,
    `a takeover is no failover: epoch ${String(healthy.epoch)} (was ${epoch}), active ${monitor.nameOf(healthy.active)}`,
  );
  const port = follower.announce.split(':').at(-1);
  const activeLink = await info(client1, 'replication');
  check(
    activeLink['master_port'] === port && activeLink['master_link_status'] === 'up',
    `replica1 replicates through ${follower.name}: master_port ${String(activeLink['master_port'])}, link ${String(activeLink['master_link_status'])}`,
  );
  check(
    monitor.sessions(r1).some((r) => r.reply === 'continue') &&
      !monitor.sessions(r1).some((r) => r.reply === 'fullresync'),
    `replica1's PSYNC through ${follower.name} answered +CONTINUE by the master, no +FULLRESYNC`,
  );
  check(
    after.syncFull === before.syncFull && after.syncPartialOk > before.syncPartialOk,
    `no full sync at the takeover: the master's sync_full ${count(before.syncFull)} → ${count(after.syncFull)}, ` +
      `sync_partial_ok ${count(before.syncPartialOk)} → ${count(after.syncPartialOk)}`,
  );
  const standbyLink = await info(client2, 'replication');
  const held = await heldStandby(client2, 'demo:standby-write');
  check(
    standbyLink['master_port'] === port && held === undefined,
    held ??
      `replica2 still held, now by ${follower.name} (master_port ${String(standbyLink['master_port'])}): empty, reads -MASTERDOWN, writes -READONLY`,
  );
  const answers = [leader, follower]
    .map((i) => `${i.name} ${count(reader.answeredBy.get(i.rbuddy.httpUrl) ?? 0)}`)
    .join(', ');
  check(
    reader.failed === 0,
    `reads through the takeover: ${count(reader.served)} served, ${count(reader.failed)} failed; ` +
      `GET /active answered by ${answers}`,
  );
  return {
    started: { ...group.started, rbuddy: follower.rbuddy, monitor },
    killedAt,
    ledAt,
    continuedAt,
  };
}
