// A state dir rbuddy may not write (a host directory bind-mounted into the container, owned by
// root) fails the start with an error that names the uid rbuddy runs as and how to fix it, not
// a bare EACCES on a temp file name. Root is never refused, so as root the lock is taken in a
// child process running as nobody (65534); otherwise the directory is made read-only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { RbuddyError } from '../../src/errors.js';
import { StateDirLock } from '../../src/standby/state-dir-lock.js';

const LOCK_MODULE = fileURLToPath(new URL('../../src/standby/state-dir-lock.ts', import.meta.url));

/** The error of StateDirLock.acquire(dir) as `code message`, in a process running as `uid`. */
async function acquireAs(uid: number, dir: string): Promise<string> {
  const script = `
    const { StateDirLock } = await import(${JSON.stringify(pathToFileURL(LOCK_MODULE).href)});
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    try { await StateDirLock.acquire(${JSON.stringify(dir)}, { logger: quiet }); console.log('locked'); }
    catch (error) { console.log(error.code + ' ' + error.message); }
    process.exit(0);`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { uid, gid: uid, cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 60_000 },
  );
  return stdout.trim();
}

describe('a state dir rbuddy may not write', () => {
  it('names the uid rbuddy runs as and says to chown the directory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rbuddy-state-access-'));
    const dir = join(root, 'state');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(root, 0o755);
    try {
      let text: string;
      let uid: number;
      if (process.getuid?.() === 0) {
        uid = 65534;
        text = await acquireAs(uid, dir);
      } else {
        uid = process.getuid?.() ?? -1;
        chmodSync(dir, 0o555);
        text = await StateDirLock.acquire(dir, { logger: pino({ level: 'silent' }) }).then(
          () => 'locked',
          (error: unknown) =>
            error instanceof RbuddyError ? `${error.code} ${error.message}` : String(error),
        );
      }
      assert.match(text, /^RBUDDY_ERR_STATE_DIR_ACCESS /);
      assert.match(text, new RegExp(`rbuddy runs as uid ${uid}\\b`));
      assert.match(text, new RegExp(`chown -R ${uid}:\\d+ ${dir}`));
    } finally {
      chmodSync(dir, 0o755);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
