// I1 (docs/design.md, "Invariants") read in the replicas' own logs: every full sync a replica
// took is judged against what rbuddy answered just before and just after it began (which node is
// active, in which epoch) and what that process held just before (its key count, or its log).
// The readers and the key counts sample; a full sync of the chaos dataset is flushed and
// reloaded in a few ms, between two samples, and only the log sees every one.
import { join } from 'node:path';
import { ActiveSyncJudge, type SyncVerdict } from '../harness/active-full-syncs.js';
import { FullSyncLog, LogFollower, type FullSync } from '../harness/redis-log.js';
import type { Checker } from './checker.js';
import type { History } from './history.js';
import type { ChaosTopology, StatusView } from './topology.js';

export const FULL_SYNC_INVARIANT = 'I1 no full sync reaches the active holding data';
/** A sync is judged once it ended (its log complete) or after this long, whichever first. */
const JUDGE_AFTER_MS = 10_000;

interface Followed {
  node: string;
  file: string;
  follower: LogFollower;
  log: FullSyncLog;
  pending: FullSync[];
}

export class FullSyncCheck {
  private readonly judge = new ActiveSyncJudge();
  private readonly nodes: Followed[];

  constructor(
    topo: ChaosTopology,
    private readonly checker: Checker,
    private readonly history: History,
  ) {
    // From the end of each log: the active's first attach, at rbuddy's first start, is before.
    this.nodes = topo.replicas.map((replica) => {
      const file = join(replica.dir, 'redis.log');
      return {
        node: replica.address,
        file,
        follower: new LogFollower(file, true),
        log: new FullSyncLog(),
        pending: [],
      };
    });
  }

  /** An answer of GET /v1/status (ms since the Unix epoch). */
  status(askedAt: number, answeredAt: number, status: StatusView): void {
    this.judge.role({ askedAt, answeredAt, epoch: status.epoch, active: status.active });
  }

  /** An answer of GET /active that named a node (the reader asks it before every read). */
  activeAnswer(askedAt: number, answeredAt: number, active: string): void {
    this.judge.role({ askedAt, answeredAt, active });
  }

  keys(node: string, pid: number, keys: number): void {
    this.judge.keyCount(node, { at: Date.now(), pid, keys });
  }

  /** Reads what the logs added and judges what can be; `final`: judges the rest as it stands. */
  poll(final = false): void {
    for (const followed of this.nodes) {
      followed.pending.push(...followed.log.push(followed.follower.readLines()));
      followed.pending = followed.pending.filter((sync) => !this.decide(followed, sync, final));
    }
  }

  private decide(followed: Followed, sync: FullSync, final: boolean): boolean {
    const complete = sync.endedAt !== undefined || Date.now() - sync.at > JUDGE_AFTER_MS;
    if (!complete && !final) return false;
    const verdict = this.judge.judge(followed.node, sync, followed.log.heldBefore(sync));
    if (verdict.verdict === 'wait' && !final) return false;
    const kind = verdict.verdict === 'wait' ? 'unknown' : verdict.verdict;
    this.checker.fullSyncs.set(kind, (this.checker.fullSyncs.get(kind) ?? 0) + 1);
    const t = this.history.at(sync.at);
    const facts = {
      pid: sync.pid,
      ...verdictFacts(verdict, (ms) => this.history.at(ms)),
      flushedAt: sync.flushedAt === undefined ? undefined : this.history.at(sync.flushedAt),
      keysLoaded: sync.keysLoaded,
      finishedAt: sync.finishedAt === undefined ? undefined : this.history.at(sync.finishedAt),
    };
    this.history.record('full-sync', followed.node, { t, data: facts });
    if (kind === 'unknown') return true;
    this.checker.check(
      FULL_SYNC_INVARIANT,
      verdict.verdict !== 'into-active',
      `a full sync reached ${followed.node}, the active rbuddy named before and after it began, while it held data`,
      { ...facts, log: followed.file, lines: sync.lines.slice(0, 10) },
      t,
    );
    return true;
  }
}

function verdictFacts(verdict: SyncVerdict, at: (ms: number) => number): Record<string, unknown> {
  switch (verdict.verdict) {
    case 'into-active':
      return {
        verdict: 'INTO THE ACTIVE',
        epoch: verdict.epoch,
        keysBefore: verdict.keys,
        keysSeenAt: at(verdict.keysSeenAt),
      };
    case 'active-empty':
      return { verdict: 'into the active, empty', epoch: verdict.epoch };
    case 'not-active':
      return { verdict: 'not the active', active: verdict.active };
    case 'roles-changing':
      return {
        verdict: 'roles changing',
        before: { active: verdict.before.active, epoch: verdict.before.epoch },
        after: { active: verdict.after.active, epoch: verdict.after.epoch },
      };
    case 'wait':
      return { verdict: 'unjudged: no answer of rbuddy after it' };
    case 'unknown':
      return { verdict: `unjudged: ${verdict.why}` };
  }
}
