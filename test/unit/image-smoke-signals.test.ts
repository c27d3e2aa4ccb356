// `npm run image:smoke` interrupted: Ctrl-C (SIGINT to the whole process group) or SIGTERM to the
// bash script. Either way the test container and its volume are removed, the check process and
// the docker command it was running end, and the exit status is non-zero. A stand-in `docker` on
// PATH logs every call and holds `docker build` open (no engine needed); the script is stopped
// while that build runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isPidAlive, waitForExit } from '../../harness/processes.js';
import { waitFor } from '../../harness/wait-for.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const FAKE_DOCKER = `#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls.log"
case "$1" in
  version) echo 20.10.0 ;;
  build) echo $$ > "$FAKE_DIR/build.pid"; exec sleep 300 ;;
esac
exit 0
`;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function interrupt(how: 'SIGINT to the group' | 'SIGTERM to the script'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-smoke-signals-'));
  const bin = join(dir, 'bin');
  try {
    mkdirSync(bin);
    writeFileSync(join(bin, 'docker'), FAKE_DOCKER);
    chmodSync(join(bin, 'docker'), 0o755);
    const child = spawn('bash', ['scripts/image-smoke.sh'], {
      cwd: ROOT,
      detached: true, // its own process group, as a shell gives a foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        FAKE_DIR: dir,
        RBUDDY_SMOKE_DIR: join(dir, 'work'),
        DOCKER_HOST: 'unix:///nonexistent-fake.sock',
      },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const pid = child.pid ?? -1;
    const buildPid = join(dir, 'build.pid');
    await waitFor(() => existsSync(buildPid) && readFileSync(buildPid, 'utf8').trim() !== '', {
      what: 'the smoke to run docker build',
      timeoutMs: 60_000,
      explain: () => Promise.resolve(output),
    });
    const build = Number(readFileSync(buildPid, 'utf8'));
    if (how === 'SIGINT to the group') process.kill(-pid, 'SIGINT');
    else process.kill(pid, 'SIGTERM');
    assert.ok(await waitForExit(child, 30_000), `the smoke did not exit:\n${output}`);
    assert.notEqual(child.exitCode, 0, output);
    const calls = readFileSync(join(dir, 'calls.log'), 'utf8');
    assert.match(calls, /^rm --force rbuddy-smoke-\d+$/m, calls);
    assert.match(calls, /^volume rm --force rbuddy-smoke-state-\d+$/m, calls);
    await waitFor(() => !isPidAlive(build), { what: 'docker build to end', timeoutMs: 10_000 });
    await waitFor(() => !groupAlive(pid), {
      what: "every process of the smoke's group to end",
      timeoutMs: 10_000,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('npm run image:smoke interrupted', () => {
  it('SIGTERM to the bash script: container and volume removed, no process left, non-zero', () =>
    interrupt('SIGTERM to the script'));
  it('Ctrl-C (SIGINT to the process group): the same', () => interrupt('SIGINT to the group'));
});
