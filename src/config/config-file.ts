// The JSON file named by --config (or RBUDDY_CONFIG): read, parsed and checked key by key before
// convict sees it, so that each problem is one line naming the file and the setting. Nothing in
// the file is ever quoted back: it may hold passwords.

import { readFileSync } from 'node:fs';
import { ConfigError, errorCode } from '../errors.js';
import { FORMATS, type FileType } from './formats.js';
import { isStringArray } from './lists.js';
import { isSettingKey, SETTING_KEYS, SETTINGS } from './schema.js';
import type { Setting } from './setting.js';
import { suggest } from './suggest.js';

/** Where the config file comes from; `source` is how errors name it (--config or the env var). */
interface ConfigFileLocation {
  path: string;
  source: string;
}

/**
 * The file to read, if any. --config wins over RBUDDY_CONFIG, and an empty --config (`--config=`)
 * means no file at all, whatever the environment says.
 */
export function locateConfigFile(
  fromFlag: string | undefined,
  env: Record<string, string | undefined>,
): ConfigFileLocation | undefined {
  const fromEnv = env[SETTINGS.config.env];
  if (fromFlag !== undefined && fromFlag !== '') return { path: fromFlag, source: '--config' };
  if (fromFlag === undefined && fromEnv !== undefined && fromEnv !== '') {
    return { path: fromEnv, source: SETTINGS.config.env };
  }
  return undefined;
}

function jsonType(value: unknown): FileType | 'other' {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (isStringArray(value)) return 'string-array';
  return 'other';
}

const FILE_TYPE_WORDS: Record<FileType, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  'string-array': 'an array of strings',
};

/**
 * JSON.parse's messages quote the text around the error (`Unexpected token 'h', "hunter2" is not
 * valid JSON`), which may be a password: keep only the kind of error and where it is.
 */
function describeJsonError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(message);
  let what = message
    .replace(/,\s*(?:\.\.\.)?".*$/s, '')
    .replace(/^Unexpected token '.*?'/s, 'unexpected token')
    .replace(/\s*in JSON at position \d+.*$/s, '')
    .replace(/\s*at position \d+.*$/s, '')
    .trim();
  // A token that is a control character (a newline) must not break the message's one line.
  if (what === '' || what.includes('"') || [...what].some((c) => c < ' ')) what = 'syntax error';
  what = what.charAt(0).toLowerCase() + what.slice(1);
  if (position === null) return what;
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${what} at line ${line}, column ${column}`;
}

function readText({ path, source }: ConfigFileLocation): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? 'read error');
    throw new ConfigError(`cannot read config file ${path} (from ${source}): ${reason}`, 'config', {
      cause: error,
    });
  }
}

/** The file's settings, each a known key holding a JSON type its format accepts. */
export function readConfigFile(location: ConfigFileLocation): Record<string, unknown> {
  const { path } = location;
  const text = readText(location);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${path} is not valid JSON: ${describeJsonError(error, text)}`,
      'config',
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`, 'config');
  }
  const entries: [string, unknown][] = Object.entries(data);

  const unknown = entries
    .map(([key]) => key)
    .filter((key) => key === 'config' || !isSettingKey(key));
  if (unknown.includes('config')) {
    throw new ConfigError(
      `setting "config" cannot be given inside config file ${path} (use --config or RBUDDY_CONFIG)`,
      'config',
    );
  }
  const first = unknown[0];
  if (first !== undefined) {
    // Someone may write the flag or env name ("grace-ms", "RBUDDY_GRACE_MS") instead of the key.
    const byAlias = SETTING_KEYS.find(
      (key) => SETTINGS[key].arg === first || SETTINGS[key].env === first,
    );
    const hint =
      byAlias !== undefined
        ? ` (did you mean "${byAlias}"?)`
        : suggest(first, SETTING_KEYS, (key) => `"${key}"`);
    const more = unknown.length > 1 ? ` (and ${unknown.length - 1} more unknown)` : '';
    throw new ConfigError(`unknown setting "${first}" in config file ${path}${hint}${more}`, first);
  }

  for (const [key, value] of entries) {
    if (!isSettingKey(key)) continue; // every key is known by now; this narrows its type
    const setting: Setting<unknown> = SETTINGS[key];
    const allowed = FORMATS[setting.format].fileTypes;
    const type = jsonType(value);
    const nullOk = value === null && setting.nullable === true;
    if (!nullOk && (type === 'other' || !allowed.includes(type))) {
      const words = allowed.map((t) => FILE_TYPE_WORDS[t]).join(' or ');
      throw new ConfigError(
        `invalid setting "${key}" in config file ${path}: must be ${words}`,
        key,
      );
    }
  }
  return Object.fromEntries(entries);
}
