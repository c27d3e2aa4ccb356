// The discovery client matrix for redis-py (test/helpers/client-matrix.ts): Debian's
// python3-redis, run by Debian's /usr/bin/python3 (not whatever python3 comes first on PATH),
// with README.md's option (`master_for(group, retry_on_error=[ConnectionError])`) and with its
// Sentinel defaults. redis-py follows no event: it moves when rbuddy's CLIENT KILL closes its
// connection, and with its defaults (no retry) the GET in flight at that instant fails, once
// per switch; with the option it is resent on a new connection, through the sentinel, to the new
// active. Without python3-redis the tests fail and say what to install.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { terminate, trackChild } from '../../harness/processes.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import {
  assertClean,
  KEY,
  reportCounts,
  throughBothFailovers,
  VALUE,
  type MatrixClient,
  type OpenClient,
  type ReadCounts,
} from '../helpers/client-matrix.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../helpers/redis-py-reader.py', import.meta.url));

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

interface Line {
  ok: number;
  failed: string[];
  wrong: string[];
  port: number | null;
}

const redisPy =
  (retry: boolean): OpenClient =>
  (sentinel, group) =>
    openRedisPy([
      sentinel.host,
      String(sentinel.port),
      group,
      KEY,
      VALUE,
      ...(retry ? ['retry'] : []),
    ]);

async function openRedisPy(args: string[]): Promise<MatrixClient> {
  const child = spawn(PYTHON, [SCRIPT, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  trackChild(child);
  let latest: Line = { ok: 0, failed: [], wrong: [], port: null };
  let base = { ok: 0, failed: 0, wrong: 0 };
  let stderr = '';
  let buffered = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const parsed = JSON.parse(line) as Partial<Line>;
      if (parsed.ok !== undefined) latest = parsed as Line;
    }
  });
  await waitFor(() => latest.ok > 0 || child.exitCode !== null, { what: 'redis-py to read' });
  assert.equal(child.exitCode, null, `redis-py reader exited: ${stderr}`);
  const counts = (): ReadCounts => ({
    ok: latest.ok - base.ok,
    failed: latest.failed.slice(base.failed),
    wrong: latest.wrong.slice(base.wrong),
  });
  const client: MatrixClient = {
    counts,
    reset: () => {
      base = { ok: latest.ok, failed: latest.failed.length, wrong: latest.wrong.length };
    },
    nodePort: () =>
      latest.port === null
        ? Promise.reject(new Error('no INFO yet'))
        : Promise.resolve(latest.port),
    close: async () => {
      child.stdin.end();
      await terminate(child);
    },
  };
  return client;
}

function requirePython3Redis(): void {
  const check = spawnSync(PYTHON, ['-c', 'import redis; print(redis.__version__)']);
  assert.equal(
    check.status,
    0,
    `Debian's python3-redis is required for this test ('sudo apt-get install python3-redis'; \`npm test\` installs it when run as root with apt): ${check.stderr.toString()}`,
  );
}

test("redis-py (Debian's python3-redis), README's option retry_on_error=[ConnectionError]", async () => {
  requirePython3Redis();
  assertClean(await throughBothFailovers('py-retry', redisPy(true)));
});

test("redis-py (Debian's python3-redis), default Sentinel options: never a wrong read, at most the GET in flight at each CLIENT KILL fails", async () => {
  requirePython3Redis();
  const outcome = await throughBothFailovers('py-default', redisPy(false));
  reportCounts(outcome);
  for (const counts of [outcome.masterLoss, outcome.planned]) {
    assert.deepEqual(counts.wrong, []);
    assert.ok(
      counts.failed.length <= 1,
      `one kill, one read in flight: ${counts.failed.join('; ')}`,
    );
    for (const failure of counts.failed) assert.match(failure, /^ConnectionError: /);
  }
});
