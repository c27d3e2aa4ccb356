// The results table (stdout and Markdown) and the regenerated part of docs/benchmarks.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';

export type Verdict = 'PASS' | 'FAIL' | '—';

export interface Row {
  figure: string;
  direct: string;
  proxied: string;
  ratio: string;
  target: string;
  verdict: Verdict;
}

/** A figure measured both ways, judged (when `maxRatio` is given) on proxied / direct. */
export function ratioRow(
  figure: string,
  unit: string,
  direct: number,
  proxied: number,
  maxRatio: number | undefined,
  digits = 2,
): Row {
  const ratio = proxied / direct;
  const judged = maxRatio !== undefined && Number.isFinite(ratio);
  return {
    figure,
    direct: formatValue(direct, unit, digits),
    proxied: formatValue(proxied, unit, digits),
    ratio: Number.isFinite(ratio) ? ratio.toFixed(3) : 'n/a',
    target: maxRatio === undefined ? '—' : `ratio ≤ ${maxRatio}`,
    verdict: judged ? (ratio <= maxRatio ? 'PASS' : 'FAIL') : '—',
  };
}

/** A figure of the proxy alone, judged against an absolute limit. */
export function limitRow(
  figure: string,
  unit: string,
  proxied: number,
  max: number | undefined,
  digits = 2,
): Row {
  return {
    figure,
    direct: '—',
    proxied: formatValue(proxied, unit, digits),
    ratio: '—',
    target: max === undefined ? '—' : `≤ ${max} ${unit}`,
    verdict: max === undefined ? '—' : proxied <= max ? 'PASS' : 'FAIL',
  };
}

/** A row for a figure that could not be measured in this run. */
export function skippedRow(figure: string, target: string, why: string): Row {
  return { figure, direct: why, proxied: why, ratio: '—', target, verdict: '—' };
}

function formatValue(value: number, unit: string, digits: number): string {
  return Number.isFinite(value) ? `${value.toFixed(digits)} ${unit}` : 'n/a';
}

const HEADERS = ['figure', 'direct', 'proxied', 'ratio', 'target', 'pass/fail'] as const;

function cells(row: Row): string[] {
  return [row.figure, row.direct, row.proxied, row.ratio, row.target, row.verdict];
}

/** A plain-text table with aligned columns, for the terminal. */
export function textTable(rows: readonly Row[]): string {
  return textGrid(HEADERS, rows.map(cells));
}

/** Any table as aligned plain text (Markdown's backquotes dropped: the terminal shows them). */
export function textGrid(headers: readonly string[], lines: readonly string[][]): string {
  const all = [[...headers], ...lines.map((line) => line.map((cell) => cell.replace(/`/g, '')))];
  const widths = headers.map((_, column) =>
    Math.max(...all.map((line) => (line[column] ?? '').length)),
  );
  const render = (line: string[]): string =>
    line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ');
  const rule = widths.map((width) => '-'.repeat(width)).join('-+-');
  return [render(all[0] ?? []), rule, ...all.slice(1).map(render)].join('\n');
}

export function markdownTable(headers: readonly string[], lines: readonly string[][]): string {
  const row = (line: readonly string[]): string => `| ${line.join(' | ')} |`;
  return [row(headers), row(headers.map(() => '---')), ...lines.map(row)].join('\n');
}

export function markdownResults(rows: readonly Row[]): string {
  return markdownTable(HEADERS, rows.map(cells));
}

export const RESULTS_START = '<!-- bench:results:start -->';
export const RESULTS_END = '<!-- bench:results:end -->';

/** A generated block of the document: the text between two marker comments. */
export interface ResultsMarkers {
  start: string;
  end: string;
}

export const RELAY_MARKERS: ResultsMarkers = { start: RESULTS_START, end: RESULTS_END };
export const TLS_MARKERS: ResultsMarkers = {
  start: '<!-- bench:tls:start -->',
  end: '<!-- bench:tls:end -->',
};
export const FAILOVER_MARKERS: ResultsMarkers = {
  start: '<!-- bench:failover:start -->',
  end: '<!-- bench:failover:end -->',
};

const FALLBACK_INTRO = `# Benchmarks

Run \`npm run bench\`. Everything between a pair of \`bench:…\` markers below is rewritten by each run.
`;

/**
 * Replaces the part of `file` between the results markers (the relay's unless `markers` says
 * otherwise) with `results`, keeping everything else, hand-written text and the other part's
 * results alike; creates the file (with a short intro) if it is missing, and appends the block
 * if its markers are. The file is written as prettier formats it, so `npm run format:check`
 * stays clean after a run.
 */
export async function writeResults(
  file: string,
  results: string,
  markers: ResultsMarkers = RELAY_MARKERS,
): Promise<void> {
  const block = `${markers.start}\n\n${results.trim()}\n\n${markers.end}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : FALLBACK_INTRO;
  const start = current.indexOf(markers.start);
  const end = current.indexOf(markers.end);
  const next =
    start !== -1 && end > start
      ? `${current.slice(0, start)}${block}${current.slice(end + markers.end.length)}`
      : `${current.trimEnd()}\n\n${block}\n`;
  const options = (await resolveConfig(file)) ?? {};
  writeFileSync(file, await format(next, { ...options, filepath: file }));
}
