// The built CLI, as the Docker image and `npm start` run it: `npm run build` (the image's build
// step), then `node dist/cli.js`. Its --help must list exactly the flags docs/configuration.md
// documents, and a bad value must exit 2 with one line. Builds once, into a temp dir (with `--outDir`)
// so that a dist/ other processes may be running is never rewritten under them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runNode, type NodeRunResult } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = 30_000;

// The layout of the package: dist/cli.js reads ../package.json and imports from node_modules.
const dir = mkdtempSync(join(tmpdir(), 'rbuddy-built-cli-'));
const cli = join(dir, 'dist', 'cli.js');
after(() => rmSync(dir, { recursive: true, force: true }));

type Result = NodeRunResult;

/** `node <tmp>/dist/cli.js ...args` with no RBUDDY_* variables from the test's environment. */
function runBuilt(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return runNode([cli, ...args], { cwd: dir, env, timeoutMs: RUN_TIMEOUT_MS });
}

/** Flags documented in docs/configuration.md: one `### \`--flag\`` section each. */
function documentedFlags(): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  return [...doc.matchAll(/^### `(--[a-z][a-z0-9-]*)`$/gm)].map((match) => match[1] ?? '');
}

/** Flags in --help: option lines are indented two spaces (`  --master HOST:PORT`). */
function helpFlags(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-h, )?(--[a-z][a-z0-9-]*)/gm)]
    .map((match) => match[1] ?? '')
    .filter((flag) => flag !== '--help');
}

const REQUIRED = ['--master', '10.0.0.2:6379', '--active', '10.0.0.5:6379', '--standby', 'sb:6380'];

describe('the built CLI (npm run build → node dist/cli.js)', () => {
  before(async () => {
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await promisify(execFile)('npm', ['run', 'build', '--', '--outDir', join(dir, 'dist')], {
      cwd: ROOT,
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.ok(existsSync(cli), `npm run build did not emit ${cli}`);
  });

  it('--help lists every flag of docs/configuration.md, and no other', async () => {
    const { code, stdout, stderr } = await runBuilt(['--help']);
    assert.equal(code, 0, stderr);
    const documented = documentedFlags();
    assert.ok(documented.length >= 30, `only ${documented.length} flags found in the doc`);
    const listed = helpFlags(stdout);
    const missingFromHelp = documented.filter((flag) => !listed.includes(flag));
    const missingFromDoc = listed.filter((flag) => !documented.includes(flag));
    assert.deepEqual(missingFromHelp, [], 'documented but not in --help');
    assert.deepEqual(missingFromDoc, [], 'in --help but not documented (npm run docs:config)');
    assert.equal(new Set(listed).size, listed.length, 'a flag is listed twice');
    // The environment variable of each setting, too.
    const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const [, env] of doc.matchAll(/^- Environment: `(RBUDDY_[A-Z_]+)`$/gm)) {
      assert.ok(stdout.includes(`env ${env}`), `${env} not in --help`);
    }
  });

  it('a bad value exits 2 with exactly one line naming the setting', async () => {
    const { code, stdout, stderr } = await runBuilt([...REQUIRED, '--grace-ms', 'soon']);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    const lines = stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0] ?? '', /^rbuddy: invalid setting "graceMs" from --grace-ms: /);
  });

  it('a bad value from the environment (as in the image) exits 2 with one line', async () => {
    const { code, stderr } = await runBuilt([], {
      RBUDDY_MASTER: '10.0.0.2:6379',
      RBUDDY_ACTIVE: '10.0.0.5:6379',
      RBUDDY_STANDBY: '10.0.0.6:6379',
      RBUDDY_LISTEN: '0.0.0.0:99999',
    });
    assert.equal(code, 2, stderr);
    const lines = stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0] ?? '', /^rbuddy: invalid setting "listen" from RBUDDY_LISTEN: /);
  });
});
