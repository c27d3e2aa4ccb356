// The group's PersistedState in etcd (`<prefix>/<group>/state`), behind the StateStore contract
// of src/standby/state-store.ts: every instance may load it (followers answer discovery from it),
// only the leader saves it, each save one transaction fenced by its leadership (leader-guard.ts)
// and stamped with its writer (written-by.ts), and saves land in call order.
import type { Etcd3 } from 'etcd3';
import { EtcdUnavailableError } from '../errors.js';
import { invalidReason, type PersistedState } from '../standby/persisted-state.js';
import type { LoadResult, StateStore } from '../standby/state-store.js';
import { guardedTxn, type GuardSource } from './leader-guard.js';
import { stampedState, unstamped } from './written-by.js';

export class EtcdStateStore implements StateStore {
  /** As operators are told it: `etcd:<key>`. */
  readonly file: string;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly source: GuardSource,
  ) {
    this.file = `etcd:${key}`;
  }

  /**
   * Missing, ok or corrupt as the file store tells them. Rejects with EtcdUnavailableError when
   * etcd does not answer: that is not a corrupt state (nothing is known of it), and the caller
   * tries again later.
   */
  async load(): Promise<LoadResult> {
    let text: string | null;
    try {
      text = await this.client.get(this.key).string();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new EtcdUnavailableError(`cannot read ${this.file}: ${message}`, { cause: error });
    }
    if (text === null) return { kind: 'missing', file: this.file };
    let value: unknown;
    try {
      value = unstamped(JSON.parse(text));
    } catch {
      return { kind: 'corrupt', file: this.file, why: 'it is not valid JSON' };
    }
    const why = invalidReason(value);
    if (why !== undefined) return { kind: 'corrupt', file: this.file, why };
    return { kind: 'ok', file: this.file, state: value as PersistedState };
  }

  /**
   * One fenced transaction, the state stamped with this instance and its fence: rejects with NotLeaderError when this instance does not lead (the
   * state is unchanged), with EtcdUnavailableError when etcd did not confirm it.
   */
  save(state: PersistedState): Promise<void> {
    const saved = this.saving.then(() =>
      guardedTxn(this.client, this.source, `save ${this.file}`, (guard) => [
        this.client.put(this.key).value(
          stampedState(state, {
            id: guard.writer.id,
            announce: guard.writer.announce,
            fence: guard.fence,
          }),
        ),
      ]),
    );
    this.saving = saved.catch(() => undefined);
    return saved;
  }
}
