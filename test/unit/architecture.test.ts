// The shape of the code base, checked: each layer imports only from the layers beneath it (or
// its own folder), no module imports itself back through others, no source file outgrows one
// screenful of concepts (500 lines), and nothing casts through `unknown` to skip the checker.
// The layers are the README's "Layout" table, lowest first; that table names every folder and
// top-level file of src/, so it cannot drift from the tree unnoticed.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Lowest first: a module may import from its own layer and any layer below it. */
const LAYERS: ReadonlyArray<readonly string[]> = [
  [
    'errors.ts',
    'addresses.ts',
    'atomic-file.ts',
    'log-throttle.ts',
    'secrets.ts',
    'retry-policy.ts',
    'is-object.ts',
    'run-id.ts',
    'lingering-close.ts',
  ],
  ['config/', 'resp/', 'tls/'],
  ['log.ts', 'nodes/'],
  ['proxy/'],
  ['notify/'],
  ['standby/'],
  ['ha/'],
  ['discovery/', 'metrics/'],
  ['http/'],
  ['app.ts'],
  ['cli.ts', 'healthcheck.ts'],
];

function layerOf(file: string): number {
  const path = relative(join(root, 'src'), file);
  const index = LAYERS.findIndex((layer) =>
    layer.some((entry) => (entry.endsWith('/') ? path.startsWith(entry) : path === entry)),
  );
  assert.notEqual(index, -1, `src/${path} belongs to no layer: add it to LAYERS`);
  return index;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)];
  return specifiers.map((match) =>
    resolve(dirname(file), (match[1] ?? '').replace(/\.js$/, '.ts')),
  );
}

const src = filesUnder(join(root, 'src'));

/** The rows of README's "Layout" table: the table that follows the paragraph "Layout (…". */
function readmeLayout(): string {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const start = text.indexOf('\nLayout (');
  assert.notEqual(start, -1, 'README.md has its "Layout" paragraph');
  const lines = text.slice(start + 1).split('\n');
  const table = lines.slice(lines.findIndex((line) => line.startsWith('|')));
  const end = table.findIndex((line) => !line.startsWith('|'));
  return table.slice(0, end === -1 ? undefined : end).join('\n');
}
const name = (file: string): string => relative(root, file);

describe('the architecture', () => {
  it('every import runs down the layers (or within a folder)', () => {
    const upward: string[] = [];
    for (const file of src) {
      for (const target of relativeImports(file)) {
        if (layerOf(target) > layerOf(file)) upward.push(`${name(file)} → ${name(target)}`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('has no import cycles', () => {
    const graph = new Map(src.map((file) => [file, relativeImports(file)]));
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      const at = path.indexOf(file);
      if (at !== -1) {
        cycles.push([...path.slice(at), file].map(name).join(' → '));
        return;
      }
      if (done.has(file)) return;
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      done.add(file);
    };
    for (const file of src) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it("names every folder and top-level file of src/ in README's Layout table", () => {
    const table = readmeLayout();
    const entries = readdirSync(join(root, 'src')).flatMap((entry) => {
      if (statSync(join(root, 'src', entry)).isDirectory()) return [`src/${entry}/`];
      return entry.endsWith('.ts') ? [`src/${entry}`] : [];
    });
    const missing = entries.filter((entry) => !table.includes(`\`${entry}\``));
    assert.deepEqual(missing, [], "add them to README's Layout table");
  });

  it('the chaos run imports only from src/, harness/ and itself, and nothing but its own unit tests imports it', () => {
    const allowed = ['src/', 'harness/', 'chaos/'].map((dir) => join(root, dir));
    const chaos = filesUnder(join(root, 'chaos'));
    const stray = chaos.flatMap((file) =>
      relativeImports(file)
        .filter((target) => !allowed.some((dir) => target.startsWith(dir)))
        .map((target) => `${name(file)} → ${name(target)}`),
    );
    // Its checks are unit-tested (test/unit/chaos-*.test.ts): a checker that cannot fail is the
    // defect a chaos run must not have.
    const others = ['src', 'harness', 'bench', 'demo', 'test']
      .flatMap((dir) => filesUnder(join(root, dir)))
      .filter((file) => !/\/test\/unit\/chaos-[^/]+\.test\.ts$/.test(file));
    const into = others.flatMap((file) =>
      relativeImports(file)
        .filter((target) => target.startsWith(join(root, 'chaos/')))
        .map((target) => `${name(file)} → ${name(target)}`),
    );
    assert.deepEqual([...stray, ...into], []);
  });

  it('keeps every source file under 500 lines', () => {
    const dirs = [
      'src',
      'harness',
      'bench',
      'deploy',
      'demo',
      'scripts',
      'chaos',
      'test/unit',
      'test/functional',
      'test/helpers',
      'fuzz',
    ];
    const long = dirs
      .flatMap((dir) => {
        try {
          return filesUnder(join(root, dir));
        } catch {
          return [];
        }
      })
      .map((file) => ({
        file: name(file),
        lines: readFileSync(file, 'utf8').trimEnd().split('\n').length,
      }))
      .filter((entry) => entry.lines > 500);
    assert.deepEqual(long, []);
  });

  it('never casts through unknown (src and the test fakes)', () => {
    const files = [...src, ...filesUnder(join(root, 'test/helpers'))];
    const casts = files.filter((file) => readFileSync(file, 'utf8').includes(' as unknown as '));
    assert.deepEqual(casts.map(name), []);
  });

  it('cites no document the repository does not have', () => {
    const self = fileURLToPath(import.meta.url);
    const files = [...src, ...filesUnder(join(root, 'test'))].filter((file) => file !== self);
    const pattern = /SPEC §|SPEC\.md|STYLE \d|\b[Ii]ssue \d/;
    const cites = files.filter((file) => pattern.test(readFileSync(file, 'utf8')));
    assert.deepEqual(cites.map(name), []);
  });
});
