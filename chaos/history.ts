// The history of a chaos run, Jepsen style: every read, write batch, role change, flush, fault
// and event, with its time (ms since the start) and node, kept in memory for the checks and
// appended to history.jsonl in the run's directory for a post-mortem.
import { appendFileSync } from 'node:fs';

export type OpKind =
  | 'fault-start'
  | 'fault-end'
  | 'read'
  | 'write'
  | 'status'
  | 'role'
  | 'dbsize'
  | 'flush'
  | 'epoch'
  | 'webhook'
  | 'operator'
  | 'digest'
  | 'full-sync'
  | 'lag'
  | 'violation'
  | 'note';

export interface Op {
  /** ms since the run started. */
  t: number;
  kind: OpKind;
  /** The node, process or link it concerns (`master`, `127.0.0.1:1234`, `rbuddy`, …). */
  node: string;
  ok?: boolean;
  data?: Record<string, unknown>;
}

export class History {
  readonly ops: Op[] = [];
  private readonly start: number;

  /** `clock`: ms since the Unix epoch (a test's own clock, else the wall clock). */
  constructor(
    private readonly file: string,
    private readonly clock: () => number = Date.now,
  ) {
    this.start = clock();
  }

  now(): number {
    return this.clock() - this.start;
  }

  /** A wall-clock time (ms since the Unix epoch, as in a server's log) in ms of the run. */
  at(epochMs: number): number {
    return epochMs - this.start;
  }

  record(
    kind: OpKind,
    node: string,
    extra: { ok?: boolean; data?: Record<string, unknown>; t?: number } = {},
  ): Op {
    // `t`: when it happened, if earlier than now (a line of a server's log read afterwards).
    const { t = this.now(), ...rest } = extra;
    const op: Op = { t, kind, node, ...rest };
    // Reads are many and alike: the successful ones are counted, not kept, so memory stays flat.
    if (!(kind === 'read' && op.ok === true)) {
      this.ops.push(op);
      appendFileSync(this.file, `${JSON.stringify(op)}\n`);
    }
    return op;
  }

  /** The ops within `ms` either side of `t` but the reads (their failures are counted apart). */
  around(t: number, ms = 10_000): Op[] {
    return this.ops
      .filter((op) => op.t >= t - ms && op.t <= t + ms && op.kind !== 'read')
      .sort((a, b) => a.t - b.t);
  }
}
