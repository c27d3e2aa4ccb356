// The group's state store in etcd as /v1/status shows it (`stateStore`, the same fields as the
// state file's): where it lives, whether the last write landed, the failed writes counted. A
// write refused because this instance no longer leads counts as failed: it did not land.
import type { PersistedState } from '../standby/persisted-state.js';
import type { StateFileStatus } from '../standby/state-file.js';
import type { LoadResult, StateStore } from '../standby/state-store.js';

export class WatchedStore implements StateStore {
  private writable = true;
  private failedWrites = 0;
  private lastWriteError: StateFileStatus['lastWriteError'] = null;

  constructor(private readonly store: StateStore) {}

  get file(): string {
    return this.store.file;
  }

  load(): Promise<LoadResult> {
    return this.store.load();
  }

  epochFloor(): number | undefined {
    return this.store.epochFloor?.();
  }

  async save(state: PersistedState): Promise<void> {
    try {
      await this.store.save(state);
      this.writable = true;
    } catch (error) {
      this.writable = false;
      this.failedWrites += 1;
      const message = error instanceof Error ? error.message : String(error);
      const name = error instanceof Error ? error.name : null;
      this.lastWriteError = { at: new Date().toISOString(), code: name, message };
      throw error;
    }
  }

  status(): StateFileStatus {
    return {
      file: this.store.file,
      writable: this.writable,
      failedWrites: this.failedWrites,
      lastWriteError: this.lastWriteError,
    };
  }
}
