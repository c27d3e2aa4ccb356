// Fuzz target for the configuration: argv, environment and a --config file, in any combination,
// must give a config or a ConfigError (RBUDDY_ERR_CONFIG) of one line naming the setting it is
// about, and never quote a secret back. Anything else is an InvariantViolation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { SETTING_KEYS, SETTINGS } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';
import { InvariantViolation } from './framer-targets.js';

export interface ConfigInput {
  argv: string[];
  env: Record<string, string>;
  /** Contents of a --config file, when there is one. */
  file?: Buffer;
}

/** Values planted in secret settings: they must never show in an error message. */
export const SECRET_MARK = 'Zq7-secret-';

/** The spellings a message may use for a setting: its key, flag and environment variable. */
function spellings(key: string): string[] {
  const setting = SETTING_KEYS.find((k) => k === key);
  if (setting === undefined) return [key];
  return [key, `--${SETTINGS[setting].arg}`, SETTINGS[setting].env];
}

export function checkConfig(input: ConfigInput): 'config' | ConfigError {
  let dir: string | undefined;
  const argv = [...input.argv];
  if (input.file !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'rbuddy-fuzz-config-'));
    const path = join(dir, 'config.json');
    writeFileSync(path, input.file);
    argv.push('--config', path);
  }
  try {
    loadConfig({ argv, env: input.env });
    return 'config';
  } catch (error) {
    if (!(error instanceof ConfigError) || error.code !== 'RBUDDY_ERR_CONFIG') {
      throw new InvariantViolation(
        `loadConfig threw something other than a ConfigError: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    if (error.message.includes('\n')) {
      throw new InvariantViolation(
        `a ConfigError of more than one line: ${JSON.stringify(error.message)}`,
      );
    }
    if (error.message.includes(SECRET_MARK)) {
      throw new InvariantViolation(`a ConfigError quotes a secret: ${error.message}`);
    }
    // A word that is no setting at all (`bare`, `-x`) has no key: the message quotes the word.
    const named =
      error.key === undefined
        ? input.argv.some((token) => token !== '' && error.message.includes(JSON.stringify(token)))
        : spellings(error.key).some((name) => error.message.includes(name));
    if (!named) {
      throw new InvariantViolation(
        `a ConfigError that does not name its setting (key ${String(error.key)}): ${error.message}`,
      );
    }
    return error;
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}
