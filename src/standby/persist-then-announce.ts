// The one place where the failover engine's persisted state changes and where its events go
// out, in that order (I3; docs/design.md, "Persist, then announce"). An action's Outcome is
// committed here: its state saved, then the engine's memory updated, then its events sent, each
// built from the state just saved, so that no event names roles or an epoch that are not on
// disk. Nothing else in src/standby writes the state or sends an event.
import type { Logger } from 'pino';
import type { EventBus, EventData, EventType, RbuddyEvent } from '../notify/events.js';
import type { Outcome } from './actions.js';
import type { PersistedState } from './persisted-state.js';
import type { StateStore } from './state-store.js';

/**
 * How long a switch waits for its events to be on disk in the outbox before it goes on without
 * that confirmation (they stay in the state file and the next start sends them again).
 */
const ANNOUNCE_TIMEOUT_MS = 5_000;

export interface StateKeeperOptions {
  store: StateStore;
  bus: EventBus;
  /** The master, named in every event. */
  masterId: string;
  log: Logger;
}

export class StateKeeper {
  private readonly options: StateKeeperOptions;
  private state: PersistedState | undefined;
  /** Saves under way, and saves done: keepSaved() decides only on a load no save raced. */
  private saving = 0;
  private saves = 0;

  constructor(options: StateKeeperOptions) {
    this.options = options;
  }

  /** The persisted state; undefined until one is loaded or settled (or while none is trusted). */
  get current(): PersistedState | undefined {
    return this.state;
  }

  /** The persisted state, where having none is a bug. */
  require(): PersistedState {
    if (this.state === undefined) throw new Error('no state');
    return this.state;
  }

  /** A state read back from the store (already on disk). */
  loaded(state: PersistedState): void {
    this.state = state;
  }

  /** Saves `state`; it is the current one once the store has it. */
  async save(state: PersistedState): Promise<void> {
    this.saving += 1;
    try {
      await this.options.store.save(state);
      this.state = state;
      this.saves += 1;
    } finally {
      this.saving -= 1;
    }
  }

  /**
   * Saves the current state again when the store no longer holds it: deleted, edited by hand, set
   * back to an older value (a backup restored under a running leader). Decided only on a load no
   * save raced (none under way, none completed, nothing marked meanwhile), so what was read is
   * what the store held while this state was current; otherwise the next call looks again.
   */
  async keepSaved(): Promise<void> {
    const current = this.state;
    if (current === undefined || this.saving > 0) return;
    const saves = this.saves;
    const found = await this.options.store.load();
    if (this.saving > 0 || this.saves !== saves || this.state !== current) return;
    if (found.kind === 'ok' && sameState(found.state, current)) return;
    const what =
      found.kind === 'ok'
        ? {
            epoch: found.state.epoch,
            active: found.state.active,
            failover: found.state.failover?.step,
          }
        : found.kind === 'corrupt'
          ? { corrupt: found.why }
          : 'missing';
    this.options.log.warn(
      { store: this.options.store.file, found: what, epoch: current.epoch, active: current.active },
      'the stored state is not the one this instance saved (deleted, edited, or an older one put back): saving it again',
    );
    await this.save(current);
  }

  /**
   * Marks the active as holding its dataset (activeHoldsData), in memory before the write lands:
   * the gate must protect the dataset from this moment, and a failed write then errs on the side
   * of protection. The one change ever held ahead of the disk, and it can carry no other: roles,
   * epoch and failover steps are in memory only once saved.
   */
  async markActiveHoldsData(): Promise<void> {
    const marked: PersistedState = { ...this.require(), activeHoldsData: true };
    this.state = marked;
    await this.save(marked);
  }

  /**
   * Persists, then `remember`s, then announces what an outcome changed. An outcome without a
   * state announces the current one.
   */
  async commit(outcome: Outcome, remember: () => void): Promise<void> {
    const { state } = outcome;
    const announcements = outcome.announce ?? [];
    if (outcome.markActiveHoldsData === true && state !== undefined) {
      throw new Error('an outcome that marks the active as holding data carries no other state');
    }
    // Every event of an outcome that saves a state goes out durably: a leader stopped between
    // the save and its outbox (a SIGTERM in a rolling deploy, deposed a moment later) would
    // otherwise lose it, and the next leader, resuming from the state, would never send it.
    if (state !== undefined && announcements.length > 0) {
      // Stamped now and saved with the state in one atomic write: a kill -9 before the outbox
      // has them cannot lose them; the next start sends them again, same ids.
      const events = announcements.map(({ type, data }) =>
        this.options.bus.create(type, state.epoch, this.eventData(state, data)),
      );
      await this.save({ ...state, unannounced: [...(state.unannounced ?? []), ...events] });
      remember();
      await this.announceSaved(events);
      return;
    }
    if (outcome.markActiveHoldsData === true) await this.markActiveHoldsData();
    if (state !== undefined) await this.save(state);
    remember();
    for (const { type, data } of announcements) this.announce(type, data);
  }

  /** Sends an event announcing the state as persisted now (its roles, its epoch). */
  announce(type: EventType, extra: Partial<EventData>): void {
    const persisted = this.require();
    this.options.bus.emit(type, persisted.epoch, this.eventData(persisted, extra));
  }

  /**
   * Sends events that were saved in the state (`unannounced`) and, once every durable sink (the
   * webhook outboxes) has them on disk, drops them from the state. If that does not happen — the
   * outbox cannot be written, or takes longer than ANNOUNCE_TIMEOUT_MS — they stay in the state
   * and the next start sends them again, with the same ids; the failover goes on either way.
   */
  async announceSaved(events: readonly RbuddyEvent[]): Promise<void> {
    const { bus, log } = this.options;
    const ids = new Set(events.map((event) => event.id));
    try {
      await bus.sendAll(events, ANNOUNCE_TIMEOUT_MS);
    } catch (error) {
      log.warn(
        { err: error, events: [...ids] },
        'events not confirmed in the outbox: kept in the state, sent again at the next start',
      );
      return;
    }
    const current = this.require();
    try {
      await this.save({
        ...current,
        unannounced: (current.unannounced ?? []).filter((event) => !ids.has(event.id)),
      });
    } catch (error) {
      // Only costs a second copy (same ids) after a restart; the outbox has them.
      log.warn({ err: error, events: [...ids] }, 'could not mark events as sent');
    }
  }

  private eventData(persisted: PersistedState, extra: Partial<EventData>): EventData {
    return {
      active: persisted.active,
      standby: persisted.standby,
      master: this.options.masterId,
      ...extra,
    };
  }
}

/** The same state, whatever the order of its keys (a store may give them back in another). */
function sameState(a: PersistedState, b: PersistedState): boolean {
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => [key, sorted(inner)]),
  );
}
