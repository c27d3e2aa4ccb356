// Compares two typed replies (resp3-client.ts) by shape: the same wire types, the same map fields
// in the same order, the same error text; values that vary between servers (ids, addresses,
// counters) are not compared. Lists of different lengths are compared element by element against
// the other list's first element (a list of instances, of commands); an empty list fits any.
import type { Typed } from './resp3-client.js';

export interface ShapeOptions {
  /** rbuddy's map fields need only be a subset of Sentinel's, in order (COMMAND DOCS). */
  subsetMaps?: boolean;
  /** Bulk and verbatim text holds `INFO` sections: compare section and field names. */
  infoText?: boolean;
  /** A list of named entries (COMMAND): entries are compared with Sentinel's of the same name. */
  byName?: boolean;
  /** INFO sections whose fields differ by role, compared by name only. */
  infoRoleSections?: boolean;
  /** Bulk and verbatim text holds one CLIENT LIST line: compare its field names. */
  clientLine?: boolean;
}

const label = (reply: Typed): string => ('value' in reply ? String(reply.value) : reply.type);

/** `# Section` → field names (and the keys inside `master0:name=…,status=…`). */
export function infoShape(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.split('\r\n')) {
    if (line.startsWith('# ')) {
      current = [];
      sections.set(line.slice(2), current);
    } else if (line.includes(':')) {
      const [field = '', value = ''] = line.split(/:(.*)/s);
      current.push(
        /^master\d+$/.test(field)
          ? `${field}{${value
              .split(',')
              .map((kv) => kv.split('=')[0])
              .join(',')}}`
          : field,
      );
    }
  }
  return sections;
}

/** Differences between rbuddy's reply and Sentinel's, as readable paths; empty when alike. */
export function shapeDifferences(
  ours: Typed,
  theirs: Typed,
  options: ShapeOptions = {},
  path = '$',
): string[] {
  if (ours.type !== theirs.type) return [`${path}: rbuddy ${ours.type}, Sentinel ${theirs.type}`];
  switch (ours.type) {
    case 'error':
      return label(ours) === label(theirs)
        ? []
        : [`${path}: rbuddy -${label(ours)}, Sentinel -${label(theirs)}`];
    case 'bulk':
    case 'verbatim': {
      if (options.infoText) {
        const a = infoShape(label(ours));
        const b = infoShape(label(theirs));
        const out: string[] = [];
        for (const [section, fields] of a) {
          const other = b.get(section);
          if (other === undefined) out.push(`${path}: section ${section} is not Sentinel's`);
          else if (options.infoRoleSections === true && section === 'Replication') continue;
          else if (fields.join() !== other.join()) {
            out.push(`${path}: # ${section} fields ${fields.join()} vs Sentinel's ${other.join()}`);
          }
        }
        return out;
      }
      if (options.clientLine) {
        const names = (line: string): string =>
          line
            .trim()
            .split(' ')
            .map((kv) => kv.split('=')[0])
            .join(' ');
        return names(label(ours)) === names(label(theirs))
          ? []
          : [`${path}: ${names(label(ours))} vs Sentinel's ${names(label(theirs))}`];
      }
      return [];
    }
    case 'array':
    case 'set':
    case 'push': {
      const a = ours.items;
      const b = theirs.type === ours.type ? theirs.items : [];
      if (a.length === 0 || b.length === 0) return [];
      if (options.byName === true) {
        const name = (item: Typed): string =>
          item.type === 'array' && item.items[0] !== undefined ? label(item.items[0]) : '?';
        return a.flatMap((item) => {
          const other = b.find((candidate) => name(candidate) === name(item));
          return other === undefined
            ? [`${path}: ${name(item)} is not one of Sentinel's commands`]
            : shapeDifferences(item, other, {}, `${path}[${name(item)}]`);
        });
      }
      if (a.length === b.length) {
        return a.flatMap((item, i) => shapeDifferences(item, b[i], options, `${path}[${i}]`));
      }
      return [
        ...a.flatMap((item, i) => shapeDifferences(item, b[0], options, `${path}[${i}]`)),
        ...b.flatMap((item, i) => shapeDifferences(a[0], item, options, `${path}[${i}]~`)),
      ];
    }
    case 'map': {
      const b = theirs.type === 'map' ? theirs.entries : [];
      const theirKeys = b.map(([key]) => label(key));
      const ourKeys = ours.entries.map(([key]) => label(key));
      const fits = options.subsetMaps
        ? ourKeys.every((key) => theirKeys.includes(key))
        : ourKeys.join() === theirKeys.join();
      if (!fits) return [`${path}: fields ${ourKeys.join()} vs Sentinel's ${theirKeys.join()}`];
      return ours.entries.flatMap(([key, value]) => {
        const other = b.find(([k]) => label(k) === label(key));
        return other === undefined
          ? []
          : shapeDifferences(value, other[1], options, `${path}.${label(key)}`);
      });
    }
    default:
      return [];
  }
}
