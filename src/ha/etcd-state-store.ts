// The group's PersistedState in etcd (`<prefix>/<group>/state`), behind the StateStore contract
// of src/standby/state-store.ts: every instance may load it (followers answer discovery from it),
// only the leader saves it, each save one transaction fenced by its leadership (leader-guard.ts)
// and stamped with its writer (written-by.ts), and saves land in call order. A value that reads
// well but that no leader of the group wrote (state-writer.ts) loads as `corrupt`, `untrusted`:
// a follower keeps its previous view, a leader writes its own back, a new leader takes the last
// version a leader wrote from etcd's history (lastLeaderWritten) or refuses to act on it.
import type { Etcd3, IKeyValue } from 'etcd3';
import { EtcdUnavailableError } from '../errors.js';
import { invalidReason, type PersistedState } from '../standby/persisted-state.js';
import type { LoadResult, StateStore } from '../standby/state-store.js';
import { parseInstance } from './instance-info.js';
import { guardedTxn, type GuardSource } from './leader-guard.js';
import { judgeWriter, SeenLeaders, type LeaderKey } from './state-writer.js';
import { stampedState, unstamped, writtenByOf } from './written-by.js';

/** How far back lastLeaderWritten() looks: a few hand edits in a row, not a whole history. */
const HISTORY_VERSIONS = 8;

type LeaderThen = LeaderKey | null | 'compacted';

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What a range read answers: its keys, and the revision it was served at. */
interface RangeRead {
  kvs: IKeyValue[];
  header: { revision: string };
}

function leaderKeyOf(kv: IKeyValue): LeaderKey {
  return {
    fence: Number(kv.create_revision),
    id: parseInstance(kv.value.toString())?.id ?? '',
  };
}

export class EtcdStateStore implements StateStore {
  /** As operators are told it: `etcd:<key>`. */
  readonly file: string;
  private saving: Promise<void> = Promise.resolve();
  /** The leader keys this instance has seen (the coordination tells each one it reads). */
  readonly leaders = new SeenLeaders();
  /** The leader key at one revision, as etcd's history last told it (one read per version). */
  private history: { revision: number; then: LeaderThen } | undefined;
  /** The highest epoch of a state a leader wrote, read or saved here by this process. */
  private highest: number | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly source: GuardSource,
    /**
     * The group's leader key, which tells a leader's write from another's; without it any valid
     * value loads as the group's state.
     */
    private readonly leaderKey?: string,
  ) {
    this.file = `etcd:${key}`;
  }

  /**
   * Missing, ok or corrupt as the file store tells them; corrupt and `untrusted` when no leader
   * wrote it. Rejects with EtcdUnavailableError when etcd does not answer: that is not a corrupt
   * state (nothing is known of it), and the caller tries again later.
   */
  async load(): Promise<LoadResult> {
    const kv = await this.read(() => this.client.get(this.key).exec());
    if (kv === undefined) return { kind: 'missing', file: this.file };
    // Read after the state: a leader elected since then is newer than the state's write.
    const leaderKey = this.leaderKey;
    const read = await this.range(async () =>
      leaderKey === undefined ? undefined : this.client.get(leaderKey).exec(),
    );
    const leader = read?.kvs[0];
    if (leader === undefined || read === undefined) return this.judge(kv, null);
    const key = leaderKeyOf(leader);
    this.leaders.seen(key, Number(read.header.revision));
    return this.judge(kv, key);
  }

  /**
   * The newest version of the state that a leader of the group wrote, from etcd's history of the
   * key, going back from the current one (at most HISTORY_VERSIONS): undefined when none is found
   * there (compacted, deleted in between, or never written by a leader).
   */
  async lastLeaderWritten(): Promise<PersistedState | undefined> {
    let kv = await this.read(() => this.client.get(this.key).exec());
    for (let step = 0; kv !== undefined && step <= HISTORY_VERSIONS; step += 1) {
      const found = await this.judge(kv, null);
      if (found.kind === 'ok') return found.state;
      const before = Number(kv.mod_revision) - 1;
      if (before <= 0) return undefined;
      try {
        kv = (await this.client.get(this.key).revision(before).exec()).kvs[0];
      } catch {
        // Compacted (or unanswered): nothing older can be read.
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * The highest epoch this process has seen the group's state hold. Epochs never go back in etcd
   * by rbuddy's doing; when they do (a restore, a wipe), a state rebuilt from the nodes takes the
   * next one, so that no number already announced names another active (reconcile.ts).
   */
  epochFloor(): number | undefined {
    return this.highest;
  }

  private note(epoch: number): void {
    this.highest = Math.max(this.highest ?? 0, epoch);
  }

  /**
   * One fenced transaction, the state stamped with this instance and its fence: rejects with NotLeaderError when this instance does not lead (the
   * state is unchanged), with EtcdUnavailableError when etcd did not confirm it.
   */
  save(state: PersistedState): Promise<void> {
    const saved = this.saving
      .then(() =>
        guardedTxn(this.client, this.source, `save ${this.file}`, (guard) => [
          this.client.put(this.key).value(
            stampedState(state, {
              id: guard.writer.id,
              announce: guard.writer.announce,
              fence: guard.fence,
            }),
          ),
        ]),
      )
      .then(() => this.note(state.epoch));
    this.saving = saved.catch(() => undefined);
    return saved;
  }

  /** The one key a range read returns, if any; EtcdUnavailableError when etcd did not answer. */
  private async read(range: () => Promise<RangeRead | undefined>): Promise<IKeyValue | undefined> {
    return (await this.range(range))?.kvs[0];
  }

  /** A range read's answer; EtcdUnavailableError when etcd did not answer. */
  private async range(read: () => Promise<RangeRead | undefined>): Promise<RangeRead | undefined> {
    try {
      return await read();
    } catch (error) {
      throw new EtcdUnavailableError(`cannot read ${this.file}: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  /** One stored version as a load tells it, judged with the leader key read after it. */
  private async judge(kv: IKeyValue, leader: LeaderKey | null): Promise<LoadResult> {
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch {
      return { kind: 'corrupt', file: this.file, why: 'it is not valid JSON' };
    }
    const state = unstamped(value);
    const why = invalidReason(state);
    if (why !== undefined) return { kind: 'corrupt', file: this.file, why };
    const notLeader = await this.notLeaderWritten(value, Number(kv.mod_revision), leader);
    if (notLeader !== undefined) {
      return { kind: 'corrupt', file: this.file, why: notLeader, untrusted: true };
    }
    this.note((state as PersistedState).epoch);
    return { kind: 'ok', file: this.file, state: state as PersistedState };
  }

  /** Why no leader of the group wrote the value stored at `written`, or undefined. */
  private async notLeaderWritten(
    value: unknown,
    written: number,
    leader: LeaderKey | null,
  ): Promise<string | undefined> {
    const leaderKey = this.leaderKey;
    if (leaderKey === undefined) return undefined;
    const evidence = { stamp: writtenByOf(value), written, leader, known: this.leaders.known };
    let verdict = judgeWriter(evidence);
    if (verdict.kind === 'ask-history') {
      verdict = judgeWriter({ ...evidence, then: await this.leaderAt(leaderKey, written) });
    }
    return verdict.kind === 'not-leader' ? verdict.why : undefined;
  }

  /** The leader key as it stood at `revision`, from etcd's history (kept for the next load). */
  private async leaderAt(key: string, revision: number): Promise<LeaderThen> {
    if (this.history?.revision === revision) return this.history.then;
    let then: LeaderThen;
    try {
      const kv = (await this.client.get(key).revision(revision).exec()).kvs[0];
      then = kv === undefined ? null : leaderKeyOf(kv);
    } catch (error) {
      if (!/compacted/i.test(describe(error))) {
        throw new EtcdUnavailableError(
          `cannot read ${key} at revision ${revision}: ${describe(error)}`,
          {
            cause: error,
          },
        );
      }
      then = 'compacted';
    }
    this.history = { revision, then };
    return then;
  }
}
