// What the configuration tests load from: the required flags, a secret that must never be printed,
// config files in a temp dir, and the assertion that loading fails with one ConfigError naming the
// setting (test/unit/config-*.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { RbuddyConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

export const REQUIRED = [
  '--master',
  '10.0.0.2:6379',
  '--active',
  '10.0.0.5:6379',
  '--standby',
  'sb:6380',
];
export const SECRET = 'hunter2-do-not-print';

export const dir = mkdtempSync(join(tmpdir(), 'rbuddy-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

export let fileCount = 0;
export function writeConfig(contents: unknown): string {
  fileCount += 1;
  const path = join(dir, `config-${fileCount}.json`);
  writeFileSync(path, typeof contents === 'string' ? contents : JSON.stringify(contents));
  return path;
}

export function load(argv: string[], env: Record<string, string> = {}): RbuddyConfig {
  return loadConfig({ argv, env });
}

/** Asserts loadConfig fails with a one-line ConfigError naming `names` and returns it. */
export function rejects(
  argv: string[],
  env: Record<string, string>,
  ...names: string[]
): ConfigError & { message: string } {
  let caught: unknown;
  try {
    load(argv, env);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'RBUDDY_ERR_CONFIG');
  assert.doesNotMatch(caught.message, /\n/, 'the message is one line');
  for (const name of names) assert.ok(caught.message.includes(name), caught.message);
  return caught;
}
