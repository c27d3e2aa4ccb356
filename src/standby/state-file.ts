// The state store on disk: PersistedState in --state-dir/state.json. Writes are atomic and
// durable: temp file, fsync, rename over the old file, fsync of the directory — a crash leaves
// either the old state or the new one, never a torn file. A file that exists but cannot be
// trusted is reported as corrupt (with the reason) and never silently replaced. A write that
// fails leaves no temp file behind and shows in status() until a later write succeeds.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from '../atomic-file.js';
import { errorCode, StateWriteError } from '../errors.js';
import { invalidReason, type PersistedState } from './persisted-state.js';
import type { LoadResult, StateStore } from './state-store.js';

/** What /v1/status shows of the state file (`stateStore`). */
export interface StateFileStatus {
  file: string;
  /** False from a failed write until a write succeeds again. */
  writable: boolean;
  /** Failed writes since the process started (each retry counts). */
  failedWrites: number;
  /** The last failure: its time, the system error code (ENOSPC, EROFS…) and the message. */
  lastWriteError: { at: string; code: string | null; message: string } | null;
}

export class StateFile implements StateStore {
  readonly file: string;
  /** The previous save, settled or not: saves run one after another, in call order. */
  private saving: Promise<void> = Promise.resolve();
  private writable = true;
  private failedWrites = 0;
  private lastWriteError: StateFileStatus['lastWriteError'] = null;

  constructor(private readonly dir: string) {
    this.file = join(dir, 'state.json');
  }

  async load(): Promise<LoadResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { kind: 'missing', file: this.file };
      const message = error instanceof Error ? error.message : String(error);
      return { kind: 'corrupt', file: this.file, why: `cannot read it: ${message}` };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { kind: 'corrupt', file: this.file, why: 'it is not valid JSON' };
    }
    const why = invalidReason(value);
    if (why !== undefined) return { kind: 'corrupt', file: this.file, why };
    return { kind: 'ok', file: this.file, state: value as PersistedState };
  }

  /** Saves land in call order: the state of the last call is the one left on disk. */
  save(state: PersistedState): Promise<void> {
    const saved = this.saving.then(() => this.write(state));
    this.saving = saved.catch(() => undefined);
    return saved;
  }

  status(): StateFileStatus {
    return {
      file: this.file,
      writable: this.writable,
      failedWrites: this.failedWrites,
      lastWriteError: this.lastWriteError === null ? null : { ...this.lastWriteError },
    };
  }

  private async write(state: PersistedState): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      await replaceFile(this.file, `${JSON.stringify(state, null, 2)}\n`);
    } catch (error) {
      const code = errorCode(error) ?? null;
      const message = error instanceof Error ? error.message : String(error);
      this.writable = false;
      this.failedWrites += 1;
      this.lastWriteError = { at: new Date().toISOString(), code, message };
      throw new StateWriteError(`cannot write ${this.file}: ${message}`, { cause: error });
    }
    this.writable = true;
  }
}
