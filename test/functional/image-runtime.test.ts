// The built CLI as the container image runs it. The Dockerfile's steps are replayed here:
// `npm run build` (the build stage), then a runtime directory with `package.json`, the lockfile,
// `npm ci --omit=dev` and `dist/` only (the runtime stage), started with the runtime stage's own
// ENV, ENTRYPOINT and HEALTHCHECK read from the Dockerfile. No Docker engine is needed, and a
// runtime dependency missing from `dependencies`, a HEALTHCHECK that cannot pass or an
// ENTRYPOINT that does not start fails here.
//
// Also: --help lists exactly the flags docs/configuration.md documents, and a bad value exits 2
// with one line. Builds once, into a temp dir (with `--outDir`), so that a dist/ other processes
// may be running is never rewritten under them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, runNode, type NodeRunResult } from '../../harness/processes.js';
import { spawnRbuddy } from '../../harness/rbuddy-process.js';
import { startRedis, stopAllRedis } from '../../harness/redis-server.js';
import { populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = 30_000;

// The layout of the image's /app: dist/cli.js reads ../package.json and imports from
// node_modules, which holds the production dependencies only.
const dir = mkdtempSync(join(tmpdir(), 'rbuddy-built-cli-'));
const cli = join(dir, 'dist', 'cli.js');
after(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

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

describe('the built CLI as the image runs it (build stage, then runtime stage)', () => {
  before(async () => {
    const run = promisify(execFile);
    const options = { timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 };
    await run('npm', ['run', 'build', '--', '--outDir', join(dir, 'dist')], {
      ...options,
      cwd: ROOT,
    });
    assert.ok(existsSync(cli), `npm run build did not emit ${cli}`);
    for (const file of ['package.json', 'package-lock.json']) {
      copyFileSync(join(ROOT, file), join(dir, file));
    }
    cpSync(join(ROOT, 'config'), join(dir, 'config'), { recursive: true });
    // The runtime stage's install (without its `npm cache clean`: this is the user's cache).
    await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
      ...options,
      cwd: dir,
    });
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

  it('runtime stage: production dependencies, its ENV, ENTRYPOINT and HEALTHCHECK; SIGTERM exits 0', async () => {
    const stage = runtimeStage(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    assert.ok(
      stage.run.some((command) => /\bnpm ci\b.*--omit=dev/.test(command)),
      'the runtime stage installs production dependencies only, as replayed here',
    );
    assert.ok(stage.user !== undefined && stage.user !== 'root', `USER ${stage.user}`);
    assert.equal(stage.stopSignal, 'SIGTERM');
    // The image's defaults file (config/container.json, copied to this /app) sets both ports.
    const defaults = JSON.parse(
      readFileSync(join(dir, 'config', 'container.json'), 'utf8'),
    ) as Record<string, string>;
    for (const key of ['listen', 'http']) {
      const port = defaults[key]?.split(':').pop();
      assert.ok(port !== undefined && stage.expose.includes(port), `EXPOSE has ${key}'s port`);
    }
    assert.equal(stage.env.RBUDDY_CONFIG, '/app/config/container.json');
    assert.equal(stage.entrypoint[0], 'node');
    assert.equal(stage.healthcheck[0], 'node');

    const [master, active, standby] = await Promise.all([
      startRedis({ name: 'master' }),
      startRedis({ name: 'active' }),
      startRedis({ name: 'standby' }),
    ]);
    await populate(master.client(), { megabytes: 2 });
    // The image's environment (its defaults file read from this /app), with loopback listeners
    // (tests bind nothing else) and a temp state dir in place of the volume: RBUDDY_* override
    // the defaults file, as they do in the image. The admin listener binds one specific address that is
    // not 127.0.0.1 (a pod IP, say): the HEALTHCHECK must probe what RBUDDY_HTTP binds.
    const env = {
      ...Object.fromEntries(
        Object.entries(stage.env).map(([name, value]) => [
          name,
          value.replace(/^\/app\//, `${dir}/`),
        ]),
      ),
      RBUDDY_MASTER: master.address,
      RBUDDY_ACTIVE: active.address,
      RBUDDY_STANDBY: standby.address,
      RBUDDY_LISTEN: '127.0.0.1:0',
      RBUDDY_HTTP: `127.0.0.2:${await freePort()}`,
      RBUDDY_STATE_DIR: join(dir, 'state'),
    };
    const healthcheck = (): Promise<NodeRunResult> =>
      runNode(stage.healthcheck.slice(1), { cwd: dir, env, timeoutMs: RUN_TIMEOUT_MS });
    assert.notEqual((await healthcheck()).code, 0, 'the HEALTHCHECK fails with nothing listening');

    const rbuddy = await spawnRbuddy([], { node: stage.entrypoint.slice(1), cwd: dir, env });
    try {
      const health = await healthcheck();
      assert.equal(health.code, 0, health.stderr);
      await waitForInSync(master.client(), active.client());
      await waitFor(async () => (await fetch(`${rbuddy.httpUrl}/readyz`)).status === 200, {
        what: '/readyz 200: the active serves its dataset',
      });
    } finally {
      rbuddy.child.kill('SIGTERM');
    }
    assert.equal(await rbuddy.exit(10_000), 0, rbuddy.stderr());
    assert.ok(rbuddy.logs().some((line) => line.msg === 'stopped'));
    assert.notEqual((await healthcheck()).code, 0, 'the HEALTHCHECK fails once rbuddy is gone');
  });
});

interface RuntimeStage {
  env: Record<string, string>;
  run: string[];
  user: string | undefined;
  stopSignal: string | undefined;
  expose: string[];
  entrypoint: string[];
  healthcheck: string[];
}

/** The instructions of the Dockerfile's last stage (continuation lines joined, comments out). */
function runtimeStage(dockerfile: string): RuntimeStage {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const from = lines.findLastIndex((line) => /^FROM\s/i.test(line));
  const stage: RuntimeStage = {
    env: {},
    run: [],
    user: undefined,
    stopSignal: undefined,
    expose: [],
    entrypoint: [],
    healthcheck: [],
  };
  for (const line of lines.slice(from + 1)) {
    const [, instruction = '', rest = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    switch (instruction.toUpperCase()) {
      case 'ENV':
        for (const [, name = '', value = ''] of rest.matchAll(/(\w+)=(\S*)/g)) {
          stage.env[name] = value;
        }
        break;
      case 'RUN':
        stage.run.push(rest);
        break;
      case 'USER':
        stage.user = rest;
        break;
      case 'STOPSIGNAL':
        stage.stopSignal = rest;
        break;
      case 'EXPOSE':
        stage.expose.push(...rest.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'HEALTHCHECK': {
        const command = /\bCMD\s+(\[.*\])$/.exec(rest)?.[1];
        assert.ok(command !== undefined, `HEALTHCHECK without an exec-form CMD: ${rest}`);
        stage.healthcheck = JSON.parse(command) as string[];
        break;
      }
    }
  }
  return stage;
}
