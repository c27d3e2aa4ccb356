// The CLI's contract for bad configuration: exit status 2 and exactly one line on stderr, `rbuddy:
// …`, naming the setting; --help prints every flag and exits 0. Runs the real entry point in a
// child process, the way an operator or a service manager would.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { schemaEntries } from '../../src/config/help.js';
import { runNode, type NodeRunResult } from '../../harness/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TIMEOUT_MS = 30_000;
const SECRET = 'hunter2-must-not-appear';

const dir = mkdtempSync(join(tmpdir(), 'rbuddy-cli-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Result = NodeRunResult;

/** Runs `node --import tsx src/cli.ts ...args` with only the given RBUDDY_* variables. */
function runCli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return runNode(['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env,
    timeoutMs: TIMEOUT_MS,
  });
}

const REQUIRED = ['--master', '127.0.0.1:6379', '--active', '127.0.0.1:6380'];
const ALL_REQUIRED = [...REQUIRED, '--standby', '127.0.0.1:6381'];

/** Exit 2, nothing on stdout, exactly one `rbuddy:` line on stderr containing every name. */
function assertConfigError(result: Result, ...names: string[]): void {
  assert.equal(result.signal, null, `killed by ${String(result.signal)}: ${result.stderr}`);
  assert.equal(result.code, 2, `exit status; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n');
  assert.equal(lines.length, 2, `one line plus its newline: ${JSON.stringify(result.stderr)}`);
  assert.equal(lines[1], '');
  assert.match(lines[0] ?? '', /^rbuddy: /);
  for (const name of names) assert.ok(result.stderr.includes(name), result.stderr);
  assert.ok(!result.stderr.includes(SECRET), 'no secret on stderr');
}

describe('rbuddy CLI: configuration errors', () => {
  it('missing --master', async () => {
    const result = await runCli(['--active', '127.0.0.1:6380', '--standby', '127.0.0.1:6381'], {
      RBUDDY_MASTER_PASSWORD: SECRET,
    });
    assertConfigError(result, '"master"', '--master', 'RBUDDY_MASTER');
  });

  it('bad host:port', async () => {
    const result = await runCli([...REQUIRED, '--standby', 'standby-host:99999']);
    assertConfigError(result, '"standby"', '--standby', '65535');
  });

  it('unknown key in the config file', async () => {
    const path = join(dir, 'unknown-key.json');
    writeFileSync(path, JSON.stringify({ graceMs: 5_000, masterPasword: SECRET }));
    const result = await runCli([...ALL_REQUIRED, '--config', path]);
    assertConfigError(result, '"masterPasword"', path, '"masterPassword"');
  });

  it('negative timeout', async () => {
    const result = await runCli(ALL_REQUIRED, {
      RBUDDY_PROBE_TIMEOUT_MS: '-250',
      RBUDDY_HTTP_TOKEN: SECRET,
    });
    assertConfigError(result, '"probeTimeoutMs"', 'RBUDDY_PROBE_TIMEOUT_MS', 'negative');
  });

  it('unknown flag', async () => {
    const result = await runCli([...ALL_REQUIRED, '--grace', '100']);
    assertConfigError(result, '--grace', '--grace-ms');
  });

  it('--active equal to --standby', async () => {
    const result = await runCli([...REQUIRED, '--standby', '127.0.0.1:6380']);
    assertConfigError(result, '"active"', '"standby"', '127.0.0.1:6380');
  });

  it('--active and --standby naming one node two ways (localhost, 127.0.0.1)', async () => {
    const result = await runCli([...REQUIRED.slice(0, 2), '--active', 'localhost:6380'], {
      RBUDDY_STANDBY: '127.0.0.1:6380',
    });
    assertConfigError(result, '"active"', '"standby"', 'localhost:6380', '127.0.0.1:6380');
  });

  it('malformed JSON file, without quoting the file', async () => {
    const path = join(dir, 'malformed.json');
    writeFileSync(path, `{"masterPassword": ${SECRET}}`);
    const result = await runCli([...ALL_REQUIRED, '--config', path]);
    assertConfigError(result, path, 'not valid JSON');
  });
});

describe('rbuddy CLI: --help', () => {
  for (const flag of ['--help', '-h']) {
    it(`${flag} prints every flag and env var and exits 0`, async () => {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.match(result.stdout, /^Usage: rbuddy /);
      for (const entry of schemaEntries()) {
        assert.ok(result.stdout.includes(entry.flag), `${entry.flag} in --help`);
        assert.ok(result.stdout.includes(entry.env), `${entry.env} in --help`);
      }
    });
  }

  it('--help wins over bad flags', async () => {
    const result = await runCli(['--no-such-flag', '--help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /--master HOST:PORT/);
  });
});
