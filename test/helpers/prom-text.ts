// A tiny parser of the Prometheus text exposition format (0.0.4), independent of prom-client, so
// tests check what a scraper would read: HELP and TYPE lines, and samples with their labels.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: \\d+)?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

/** Parses the whole text; throws on any line that is not a comment, a blank or a sample. */
export function parsePrometheusText(text: string): Exposition {
  const exposition: Exposition = { help: new Map(), type: new Map(), samples: [] };
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta !== null) {
      // Every group of the pattern is mandatory: a match has all three.
      const [, kind, name, rest] = meta;
      (kind === 'HELP' ? exposition.help : exposition.type).set(name, rest);
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`line ${index + 1} is not a sample: ${line}`);
    const [, name, , valueText] = match;
    // The label block is optional: its group is undefined when the sample has no braces.
    const labelText: string | undefined = match[2];
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let label = LABEL.exec(labelText); label !== null; label = LABEL.exec(labelText)) {
        labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        consumed = LABEL.lastIndex;
      }
      if (consumed !== labelText.length) throw new Error(`line ${index + 1}: bad labels: ${line}`);
    }
    // Like Prometheus (Go's ParseFloat): NaN and Inf in any case (prom-client writes "Nan").
    const value = /^nan$/i.test(valueText)
      ? Number.NaN
      : /^[+-]?inf$/i.test(valueText)
        ? valueText.startsWith('-')
          ? -Infinity
          : Infinity
        : Number(valueText);
    if (Number.isNaN(value) && !/^nan$/i.test(valueText)) {
      throw new Error(`line ${index + 1}: bad value: ${line}`);
    }
    exposition.samples.push({ name, labels, value });
  }
  return exposition;
}

/** The one sample with this name and (at least) these labels; undefined when absent. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = exposition.samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1)
    throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}
