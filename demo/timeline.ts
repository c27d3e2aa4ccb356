// The demo's timeline: one line per thing that happened, stamped with when it happened (rbuddy's
// own clock for what its log says) relative to the start of the run, and held back until it is
// old enough to be printed in time order.
import type { Colour, Terminal } from './terminal.js';

/** Width of the "who" column, on the timeline and in the live block. */
export const WHO_WIDTH = 9;

export interface TimelineLine {
  at: number;
  who: string;
  colour: Colour;
  text: string;
  tone: Colour | undefined;
}

export class Timeline {
  private pending: TimelineLine[] = [];

  constructor(
    private readonly term: Terminal,
    private readonly t0: number,
  ) {}

  /** Queues a line, printed once `printUpTo` reaches its time. */
  add(line: TimelineLine): TimelineLine {
    this.pending.push(line);
    return line;
  }

  /** Takes back a line that is still queued; false when it is not (printed already). */
  withdraw(line: TimelineLine): boolean {
    if (!this.pending.includes(line)) return false;
    this.pending = this.pending.filter((queued) => queued !== line);
    return true;
  }

  /** Prints, oldest first, every queued line stamped at or before `upTo`. */
  printUpTo(upTo: number): void {
    const ready = this.pending.filter((e) => e.at <= upTo).sort((a, b) => a.at - b.at);
    this.pending = this.pending.filter((e) => e.at > upTo);
    for (const e of ready) {
      const text = e.tone === undefined ? e.text : this.term.paint(e.tone, e.text);
      this.term.line(
        `${this.stamp(e.at)}  ${this.term.paint(e.colour, e.who.padEnd(WHO_WIDTH))}${text}`,
      );
    }
  }

  stamp(at: number): string {
    return this.term.paint('dim', `+${((at - this.t0) / 1000).toFixed(2)}s`.padStart(8));
  }
}
