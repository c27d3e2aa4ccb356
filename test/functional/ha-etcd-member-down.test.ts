// One etcd member of three down, restarting or hung while the other two keep the quorum
// (docs/ha.md, "Failure modes"): the leader keeps its lease and leads on, nobody takes over, and
// neither instance turns degraded. A call that lands on the lost member is tried on another one;
// a hung member (SIGSTOP: its connections stay open, nothing answers, no RST) costs one attempt's
// timeout now and then, not the leadership. etcd's own leader is lost too (each member is killed
// in turn): that takes an election of etcd's (one to two election timeouts, 1–2 s here), during
// which etcd answers nothing: the default lease (5 s) renews through it; an instance may show
// degraded while etcd elects, never otherwise.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import type { RbuddyProcess } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { masterStats } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import type { AppStatus } from '../../src/app.js';
import { startHaRig, type HaRig } from '../helpers/ha-rig.js';

/** The default --etcd-lease-ms: its renew budget (2/3) outlasts an election of etcd's. */
const LEASE_MS = 5000;

let cluster: EtcdCluster;
let rig: HaRig | undefined;
let paused: number | undefined;

before(async () => {
  cluster = await startEtcdCluster();
});

after(async () => {
  if (paused !== undefined) cluster.resume(paused);
  await rig?.close();
  await stopAllRedis();
  await cluster.close();
});

/** What polling both instances' status saw, until stopped. */
class LeadershipWatch {
  /** What the test is doing now, named in every record. */
  phase = 'start';
  /** Renewals of the leader's lease seen (its time left went up between two polls). */
  renewals = 0;
  /** Polls in which the leader did not lead, or the follower did. */
  readonly lost: string[] = [];
  /** Per instance: each time its state turned from healthy to something else. */
  readonly unhealthy = new Map<RbuddyProcess, string[]>();
  private readonly last = new Map<RbuddyProcess, AppStatus>();
  private readonly started = Date.now();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly run: HaRig,
    private readonly leader: RbuddyProcess,
    private readonly follower: RbuddyProcess,
  ) {
    this.unhealthy.set(leader, []);
    this.unhealthy.set(follower, []);
    this.loop = (async () => {
      while (this.running) {
        await Promise.all([this.poll(leader), this.poll(follower)]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Waits until the leader's lease was renewed `count` more times, or it was lost. */
  async renewed(count: number): Promise<void> {
    const target = this.renewals + count;
    await waitFor(() => this.renewals >= target || this.lost.length > 0, {
      what: `${count} renewals of the leader's lease (${this.phase})`,
      timeoutMs: 60_000,
    });
  }

  private async poll(rbuddy: RbuddyProcess): Promise<void> {
    const seen = await this.run.status(rbuddy).catch(() => undefined);
    if (seen === undefined) return;
    const before = this.last.get(rbuddy);
    this.last.set(rbuddy, seen);
    const when = `${this.phase}, t+${Date.now() - this.started} ms`;
    if (rbuddy === this.leader && seen.leader !== true) {
      this.lost.push(`${when}: the leader does not lead (${seen.state}: ${seen.reason ?? ''})`);
    }
    if (rbuddy === this.follower && seen.leader === true) {
      this.lost.push(`${when}: the follower leads`);
    }
    if (before?.state === 'healthy' && seen.state !== 'healthy') {
      this.unhealthy.get(rbuddy)?.push(`${when}: ${seen.state}: ${seen.reason ?? ''}`);
    }
    const was = before?.lease?.remainingMs;
    const now = seen.lease?.remainingMs;
    if (rbuddy === this.leader && typeof was === 'number' && typeof now === 'number' && now > was) {
      this.renewals += 1;
    }
  }
}

/** The coordination's log lines that tell what happened to the leadership. */
function leadershipLog(rbuddy: RbuddyProcess): string[] {
  return rbuddy
    .logs()
    .filter((line) =>
      /^(deposed|elected|etcd round failed|lease renewal failed)/.test(String(line.msg)),
    )
    .map(
      (line) =>
        `${String(line.time)} ${String(line.msg)} ${JSON.stringify(line.reason ?? line.err ?? '')}`,
    );
}

test('one etcd member killed, restarted or hung: the leader keeps leading, nobody takes over', async () => {
  rig = await startHaRig(cluster, { leaseMs: LEASE_MS });
  const { leader, follower } = await rig.leader();
  const takeovers = [(await rig.status(leader)).takeovers, (await rig.status(follower)).takeovers];
  const deposed = (): string[] => leadershipLog(leader).filter((line) => / deposed/.test(line));
  const stats = await masterStats(rig.master.client());
  const watch = new LeadershipWatch(rig, leader, follower);
  /** The phases in which etcd's raft leader was lost: an instance may go degraded meanwhile. */
  const elections: string[] = [];
  try {
    // Each member in turn, etcd's raft leader among them: kill -9, a while down, back.
    for (let member = 0; member < cluster.members.length; member += 1) {
      const raftLeader = (await cluster.raftLeader()) === member;
      watch.phase = `etcd member ${member}${raftLeader ? ' (raft leader)' : ''} killed`;
      if (raftLeader) elections.push(watch.phase);
      await cluster.kill9(member);
      await watch.renewed(10);
      watch.phase = `etcd member ${member} restarted`;
      await cluster.start(member);
      await watch.renewed(3);
    }
    // A member that hangs for longer than the lease: one that does not lead the raft. (A hung
    // raft leader costs an election, as its death does; but when it resumes, etcd 3.4.23 revokes
    // every lease: docs/ha.md, "Failure modes".)
    paused = ((await cluster.raftLeader()) + 1) % cluster.members.length;
    watch.phase = `etcd member ${paused} hung (SIGSTOP)`;
    cluster.pause(paused);
    await watch.renewed(10);
    cluster.resume(paused);
    paused = undefined;
    watch.phase = 'every etcd member back';
    await watch.renewed(3);
  } finally {
    await watch.stop();
  }
  const story = [...leadershipLog(leader), '--- follower', ...leadershipLog(follower)].join('\n');
  assert.deepEqual(watch.lost, [], `the leader led throughout, the follower never\n${story}`);
  assert.deepEqual(deposed(), [], 'the leader was never deposed');
  assert.deepEqual(
    [(await rig.status(leader)).takeovers, (await rig.status(follower)).takeovers],
    takeovers,
    'no takeover',
  );
  // Degraded only while etcd elected a new leader of its own: an election on a loaded machine may
  // take etcd more than one vote, so a round may fail more than once meanwhile; never outside one.
  const unexpected = (rbuddy: RbuddyProcess): string[] =>
    (watch.unhealthy.get(rbuddy) ?? []).filter(
      (line) => !elections.some((e) => line.startsWith(e)),
    );
  const seen = [leader, follower].map((r) => (watch.unhealthy.get(r) ?? []).join('\n')).join('\n');
  assert.deepEqual(unexpected(leader), [], `the leader stayed healthy\n${story}\n${seen}`);
  assert.deepEqual(unexpected(follower), [], `the follower stayed healthy\n${story}\n${seen}`);
  assert.equal((await masterStats(rig.master.client())).syncFull, stats.syncFull, 'no full sync');
});
