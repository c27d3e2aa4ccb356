// Terminal output for the demo: plain lines everywhere, a little colour and a block of live
// lines redrawn in place when stdout is a terminal. In a pipe (CI, `| cat`, `| tee`) nothing but
// plain text is written: no escape codes, no carriage returns.

const ESC = '\u001b[';

export type Colour = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan' | 'magenta';

const CODES: Record<Colour, [open: number, close: number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  magenta: [35, 39],
};

export class Terminal {
  /** Whether stdout is a terminal: live lines are redrawn in place. */
  readonly tty: boolean;
  /** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
  readonly colour: boolean;
  private live: () => string[] = () => [];
  private liveShown = 0;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.tty = out.isTTY === true;
    this.colour = this.tty && (process.env.NO_COLOR ?? '') === '';
  }

  paint(colour: Colour, text: string): string {
    if (!this.colour) return text;
    const [open, close] = CODES[colour];
    return `${ESC}${open}m${text}${ESC}${close}m`;
  }

  /** Prints one or more lines above the live block (which is redrawn below them). */
  line(text = ''): void {
    this.clearLive();
    this.out.write(`${text}\n`);
    this.drawLive();
  }

  heading(text: string): void {
    this.line();
    this.line(this.paint('bold', `── ${text} `.padEnd(Math.min(this.width(), 100), '─')));
  }

  /**
   * The lines to keep redrawn at the bottom of a terminal (progress bars, offsets); ignored in
   * a pipe, where the caller prints periodic lines instead.
   */
  setLive(render: (() => string[]) | undefined): void {
    this.clearLive();
    this.live = render ?? (() => []);
    this.drawLive();
  }

  /** Redraws the live block with fresh values. */
  refresh(): void {
    if (!this.tty) return;
    this.clearLive();
    this.drawLive();
  }

  width(): number {
    return this.tty ? Math.max(40, this.out.columns) : 100;
  }

  private clearLive(): void {
    if (!this.tty || this.liveShown === 0) return;
    // Back to the first live line, column 0, and erase from there to the end of the screen.
    this.out.write(`${ESC}${this.liveShown}F${ESC}0J`);
    this.liveShown = 0;
  }

  private drawLive(): void {
    if (!this.tty) return;
    const lines = this.live();
    // A line longer than the terminal would wrap and break the count of lines to move up.
    for (const line of lines) this.out.write(`${truncate(line, this.width() - 1)}\n`);
    this.liveShown = lines.length;
  }
}

/** Cuts a line to `max` visible characters, keeping escape sequences intact. */
function truncate(line: string, max: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i += 1) {
    if (line.startsWith(ESC, i)) {
      const end = line.indexOf('m', i);
      if (end !== -1) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible === max) continue;
    out += line[i];
    visible += 1;
  }
  return out;
}

/** Visible width of a string that may hold colour codes. */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}

// ---- formatting -----------------------------------------------------------------------------

const KIB = 1024;
const MIB = 1024 * 1024;

export function bytes(n: number): string {
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  if (n >= KIB) return `${(n / KIB).toFixed(1)} KiB`;
  return `${n} B`;
}

export function rate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / MIB).toFixed(1)} MiB/s`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `[#########-----------]` (ASCII in a pipe, blocks on a terminal). */
export function bar(fraction: number, width: number, fancy: boolean): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const full = Math.round(clamped * width);
  return fancy
    ? `${'█'.repeat(full)}${'░'.repeat(width - full)}`
    : `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/** A plain table: first column left-aligned, the others left-aligned too, two spaces apart. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) =>
        i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell) + 2),
      )
      .join('')
      .trimEnd(),
  );
}
