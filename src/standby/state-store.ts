// Reads and writes PersistedState in --state-dir/state.json. Writes are atomic and durable:
// temp file, fsync, rename over the old file, fsync of the directory — a crash leaves either
// the old state or the new one, never a torn file. A file that exists but cannot be trusted is
// reported as corrupt (with the reason) and never silently replaced. A write that fails leaves
// no temp file behind and shows in status() until a later write succeeds.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from '../atomic-file.js';
import { StateWriteError } from '../errors.js';
import type { FailoverRecord, PersistedState } from './persisted-state.js';

export type LoadResult =
  | { kind: 'missing'; file: string }
  | { kind: 'ok'; file: string; state: PersistedState }
  | { kind: 'corrupt'; file: string; why: string };

/** What /v1/status shows of the state file (`stateStore`). */
export interface StateStoreStatus {
  file: string;
  /** False from a failed write until a write succeeds again. */
  writable: boolean;
  /** Failed writes since the process started (each retry counts). */
  failedWrites: number;
  /** The last failure: its time, the system error code (ENOSPC, EROFS…) and the message. */
  lastWriteError: { at: string; code: string | null; message: string } | null;
}

const STEPS = new Set(['promoting', 'syncing', 'held', 'switched', 'aborted']);

export class StateStore {
  readonly file: string;
  /** The previous save, settled or not: saves run one after another, in call order. */
  private saving: Promise<void> = Promise.resolve();
  private writable = true;
  private failedWrites = 0;
  private lastWriteError: StateStoreStatus['lastWriteError'] = null;

  constructor(private readonly dir: string) {
    this.file = join(dir, 'state.json');
  }

  async load(): Promise<LoadResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { kind: 'missing', file: this.file };
      return {
        kind: 'corrupt',
        file: this.file,
        why: `cannot read it: ${(error as Error).message}`,
      };
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

  status(): StateStoreStatus {
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
      const code = (error as NodeJS.ErrnoException).code ?? null;
      const message = error instanceof Error ? error.message : String(error);
      this.writable = false;
      this.failedWrites += 1;
      this.lastWriteError = { at: new Date().toISOString(), code, message };
      throw new StateWriteError(`cannot write ${this.file}: ${message}`, { cause: error });
    }
    this.writable = true;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Settings to restore on a node: every value a string, as CONFIG SET takes it. */
function isSavedConfig(value: unknown): boolean {
  return isObject(value) && Object.values(value).every((setting) => typeof setting === 'string');
}

/** Why a parsed file is not a PersistedState we can act on, or undefined if it is one. */
export function invalidReason(value: unknown): string | undefined {
  if (!isObject(value)) return 'it is not a JSON object';
  if (value.version !== 1) return `unknown version ${JSON.stringify(value.version)} (expected 1)`;
  if (!Number.isSafeInteger(value.epoch) || (value.epoch as number) < 0)
    return 'epoch is not a non-negative integer';
  if (typeof value.active !== 'string' || value.active === '') return 'active is missing';
  if (typeof value.standby !== 'string' || value.standby === '') return 'standby is missing';
  if (value.active === value.standby) return 'active and standby name the same node';
  if (typeof value.activeHoldsData !== 'boolean') return 'activeHoldsData is not a boolean';
  if (value.standbySavedConfig !== undefined && value.standbySavedConfig !== null) {
    if (!isSavedConfig(value.standbySavedConfig))
      return 'standbySavedConfig is not an object of strings';
  }
  if (value.failover !== null) {
    const why = invalidFailover(value.failover, value.active, value.standby);
    if (why !== undefined) return `failover: ${why}`;
  }
  if (value.lastFailover !== null && !isObject(value.lastFailover))
    return 'lastFailover is not an object';
  if (value.unannounced !== undefined) {
    if (!Array.isArray(value.unannounced)) return 'unannounced is not an array';
    const bad = value.unannounced.findIndex((event) => invalidEvent(event) !== undefined);
    if (bad >= 0) return `unannounced[${bad}]: ${invalidEvent(value.unannounced[bad]) ?? ''}`;
  }
  return undefined;
}

/** Enough of an event to send it again: the fields every receiver reads. */
function invalidEvent(value: unknown): string | undefined {
  if (!isObject(value)) return 'not an object';
  if (typeof value.id !== 'string' || value.id === '') return 'id is missing';
  if (typeof value.type !== 'string') return 'type is missing';
  if (typeof value.timestamp !== 'string') return 'timestamp is missing';
  if (!Number.isSafeInteger(value.epoch)) return 'epoch is not an integer';
  if (!isObject(value.data)) return 'data is not an object';
  return undefined;
}

function invalidFailover(value: unknown, active: string, standby: string): string | undefined {
  if (!isObject(value)) return 'not an object';
  const record = value as Partial<FailoverRecord>;
  if (typeof record.id !== 'string') return 'id is missing';
  if (record.kind !== 'planned' && record.kind !== 'unplanned')
    return 'kind is not planned/unplanned';
  if (typeof record.step !== 'string' || !STEPS.has(record.step))
    return `unknown step ${JSON.stringify(record.step)}`;
  if (typeof record.outgoing !== 'string' || typeof record.incoming !== 'string')
    return 'outgoing/incoming missing';
  const nodes = new Set([active, standby]);
  if (
    !nodes.has(record.outgoing) ||
    !nodes.has(record.incoming) ||
    record.outgoing === record.incoming
  ) {
    return 'outgoing/incoming do not name the two nodes';
  }
  // Before the switch the outgoing node is still the active; after it, the standby.
  const switched = record.step === 'switched';
  if (switched ? record.outgoing !== standby : record.outgoing !== active) {
    return `outgoing ${record.outgoing} contradicts the roles for step ${record.step}`;
  }
  if (record.savedConfig !== null && !isObject(record.savedConfig))
    return 'savedConfig is not an object';
  if (record.verifiedAt !== null && typeof record.verifiedAt !== 'string')
    return 'verifiedAt is not a string';
  if (switched && record.verifiedAt === null) return 'switched without a verified incoming node';
  if (record.syncedRunId !== undefined && record.syncedRunId !== null) {
    if (typeof record.syncedRunId !== 'string') return 'syncedRunId is not a string';
  }
  if (!Array.isArray(record.timeline)) return 'timeline is not an array';
  return undefined;
}
