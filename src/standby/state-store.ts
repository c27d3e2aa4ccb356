// Reads and writes PersistedState in --state-dir/state.json. Writes are atomic and durable:
// temp file, fsync, rename over the old file, fsync of the directory — a crash leaves either
// the old state or the new one, never a torn file. A file that exists but cannot be trusted is
// reported as corrupt (with the reason) and never silently replaced.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FailoverRecord, PersistedState } from './persisted-state.js';

export type LoadResult =
  | { kind: 'missing'; file: string }
  | { kind: 'ok'; file: string; state: PersistedState }
  | { kind: 'corrupt'; file: string; why: string };

const STEPS = new Set(['promoting', 'syncing', 'held', 'switched', 'aborted']);

/** Temp files are unique per write in this process: concurrent writes never share one. */
let tempFiles = 0;

export class StateStore {
  readonly file: string;
  /** The previous save, settled or not: saves run one after another, in call order. */
  private saving: Promise<void> = Promise.resolve();

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

  private async write(state: PersistedState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    tempFiles += 1;
    const temp = `${this.file}.${process.pid}.${tempFiles}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file);
    // The rename itself is durable only once the directory entry is on disk.
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
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
