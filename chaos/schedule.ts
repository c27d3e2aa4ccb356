// The seeded schedule: after a drawn pause, a fault drawn by weight with a drawn duration, up to
// three at once. The draws follow the seed; whether a drawn fault can start (its resources free,
// a quiet check in progress) depends on timing, and a skip is recorded, not redrawn, so the
// sequence of draws stays the seed's. Now and then a calm window (`CalmWindows`) lets the
// checks that need a calm run.
import type { Checker } from './checker.js';
import { FAULTS, type FaultContext, type FaultKind } from './faults.js';
import type { History } from './history.js';
import { createPrng, type Prng } from './prng.js';

const MAX_RUNNING = 3;

/**
 * Calm windows (reviewer R11d, D3: in the default mix something was always excused in the last
 * 5 s, so the read-freshness check judged nothing and the digest ran only at the settled end):
 * every `everyMs` of schedule time no new fault is drawn until `reached(since)` says the checks a
 * calm needs were judged since the window began, or `maxMs` passed; then the schedule resumes.
 */
export interface CalmWindows {
  everyMs: number;
  maxMs: number;
  reached: (since: number) => boolean;
}

interface Running {
  kind: string;
  target: string;
  done: Promise<void>;
}

export class Schedule {
  readonly running = new Set<Running>();
  private readonly locks = new Set<string>();
  lastFaultEnd = 0;
  /** Set during a quiet check: no fault starts meanwhile. */
  hold = false;
  /** When the calm window under way began (ms of the run), if one is. */
  calmSince: number | undefined;

  constructor(
    private readonly rng: Prng,
    private readonly ctx: FaultContext,
    private readonly checker: Checker,
    private readonly history: History,
    /** Whether a fault kind is in this run's schedule (`--only`, `--replica-rdb`). */
    private readonly chosen: (kind: FaultKind) => boolean,
    private readonly calm?: CalmWindows,
  ) {}

  /** Draws and starts faults until `untilMs` (ms of the run). */
  async run(untilMs: number, shouldStop: () => boolean): Promise<void> {
    const kinds = FAULTS.filter(
      (kind) => (kind.available?.(this.ctx.topo) ?? true) && this.chosen(kind),
    );
    const total = kinds.reduce((sum, kind) => sum + kind.weight, 0);
    if (kinds.length === 0) {
      this.history.record('note', 'schedule', { data: { noFault: 'no fault kind available' } });
    }
    let nextCalm = this.history.now() + (this.calm?.everyMs ?? Infinity);
    while (this.history.now() < untilMs && !shouldStop()) {
      // Between draws, so that the sequence of draws stays the seed's.
      if (this.history.now() >= nextCalm) {
        await this.calmWindow(untilMs, shouldStop);
        nextCalm = this.history.now() + (this.calm?.everyMs ?? Infinity);
        continue;
      }
      const gap = this.rng.int(500, 4000);
      let draw = this.rng.next() * total;
      const kind = kinds.find((k) => (draw -= k.weight) < 0) ?? kinds.at(0);
      const duration = this.rng.int(800, 8000);
      const seed = this.rng.int(0, 2 ** 30);
      await new Promise((resolve) => setTimeout(resolve, gap));
      if (this.history.now() >= untilMs || shouldStop()) break;
      if (kind === undefined) continue;
      if (
        this.hold ||
        this.running.size >= MAX_RUNNING ||
        kind.locks.some((l) => this.locks.has(l))
      ) {
        this.history.record('note', kind.name, { data: { skipped: 'busy' } });
        continue;
      }
      this.start(kind, duration, seed);
    }
  }

  private async calmWindow(untilMs: number, shouldStop: () => boolean): Promise<void> {
    if (this.calm === undefined) return;
    const since = this.history.now();
    this.calmSince = since;
    this.history.record('note', 'schedule', { data: { calm: 'begins' } });
    const ended = (): boolean =>
      this.history.now() - since >= (this.calm?.maxMs ?? 0) ||
      this.history.now() >= untilMs ||
      shouldStop();
    while (!this.calm.reached(since) && !ended()) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const reached = this.calm.reached(since);
    // A window the run's end cut short is counted as such, not as one that could not be reached.
    const outcome = reached
      ? 'reached'
      : this.history.now() >= untilMs || shouldStop()
        ? 'cut'
        : 'timedOut';
    this.checker.calmWindows[outcome] += 1;
    this.history.record('note', 'schedule', {
      data: { calm: outcome, ms: this.history.now() - since },
    });
    this.calmSince = undefined;
  }

  /** Heals what still runs. */
  async drain(): Promise<void> {
    await Promise.all([...this.running].map((running) => running.done));
  }

  runningKinds(): string[] {
    return [...this.running].map((running) => running.kind);
  }

  private start(kind: FaultKind, duration: number, seed: number): void {
    for (const lock of kind.locks) this.locks.add(lock);
    const entry: Running = { kind: kind.name, target: '', done: Promise.resolve() };
    this.running.add(entry);
    const obstructs = kind.obstructs ?? true;
    let obstructing = false;
    let injectedOk = false;
    entry.done = (async () => {
      try {
        if (obstructs) {
          this.checker.obstacle(true);
          obstructing = true;
        }
        const injected = await kind.inject(this.ctx, createPrng(seed));
        entry.target = injected.target;
        injectedOk = true;
        this.checker.faults.set(kind.name, (this.checker.faults.get(kind.name) ?? 0) + 1);
        this.history.record('fault-start', injected.target, {
          data: {
            fault: kind.name,
            durationMs: kind.lasting ? duration : 0,
            detail: injected.detail,
          },
        });
        if (kind.lasting) await new Promise((resolve) => setTimeout(resolve, duration));
        try {
          await injected.heal();
          this.history.record('fault-end', injected.target, { data: { fault: kind.name } });
        } catch (error) {
          this.history.record('fault-end', injected.target, {
            ok: false,
            data: { fault: kind.name, error: String(error) },
          });
          if (kind.name === 'kill-rbuddy') {
            this.checker.check(
              'rbuddy restarts',
              false,
              `rbuddy did not start again: ${String(error)}`,
            );
          }
        }
      } catch (error) {
        this.history.record('note', kind.name, { data: { notInjected: String(error) } });
      } finally {
        if (obstructing) this.checker.obstacle(false);
        for (const lock of kind.locks) this.locks.delete(lock);
        this.running.delete(entry);
        // One that never took hold broke nothing to settle from (reviewer R11c, C6).
        if (injectedOk) this.lastFaultEnd = this.history.now();
      }
    })();
  }
}
