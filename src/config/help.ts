// The settings as people read them: `rbuddy --help`, and the table scripts/gen-config-docs.ts
// turns into docs/configuration.md. Both come from the schema, so they list every setting.

import type { FormatName } from './formats.js';
import { isHostPort } from './host-port.js';
import { isRequired, placeholderOf, SETTING_KEYS, SETTINGS, type SettingKey } from './schema.js';
import type { Setting } from './setting.js';
import { formatHostPort } from './types.js';

/** One line per setting, for --help and generated docs. */
export interface SchemaEntry {
  /** Key in the config file and in RbuddyConfig. */
  key: SettingKey;
  flag: string;
  env: string;
  /** Placeholder for the flag's value, e.g. HOST:PORT. */
  placeholder: string;
  format: FormatName;
  required: boolean;
  sensitive: boolean;
  /** The default for people: host:port, comma lists, "(none)"; secrets never shown. */
  defaultText: string;
  doc: string;
}

function defaultText(key: SettingKey, setting: Setting<unknown>): string {
  const value = setting.default;
  if (isRequired(setting)) return '(required)';
  if (key === 'announce') return '(see below)';
  if (key === 'config') return '(none)';
  if (setting.sensitive === true) return value === '' ? '(empty)' : '(secret)';
  if (isHostPort(value)) return formatHostPort(value);
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  if (value === '') return '(empty)';
  return String(value);
}

export function schemaEntries(): SchemaEntry[] {
  return SETTING_KEYS.map((key) => {
    const setting: Setting<unknown> = SETTINGS[key];
    return {
      key,
      flag: `--${setting.arg}`,
      env: setting.env,
      placeholder: placeholderOf(setting),
      format: setting.format,
      required: isRequired(setting),
      sensitive: setting.sensitive === true,
      defaultText: defaultText(key, setting),
      doc: setting.doc,
    };
  });
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/** `rbuddy --help`, generated from the schema so that it lists every setting. */
export function formatHelp(): string {
  const width = 100;
  const indent = '      ';
  const lines = [
    'Usage: rbuddy --master HOST:PORT --active HOST:PORT --standby HOST:PORT [options]',
    '',
    ...wrap(
      'Replication proxy for Redis: keeps the replica your applications read serving while a standby takes the full resync.',
      width,
      '',
    ),
    '',
    ...wrap(
      'Every setting is a flag, an environment variable, or a key in the JSON file named by --config. Precedence: defaults < config file < environment < flags. Give secrets in the environment: flags show up in ps.',
      width,
      '',
    ),
    '',
    'Options:',
    '  -h, --help',
    `${indent}Print this help and exit.`,
  ];
  for (const entry of schemaEntries()) {
    const value = entry.format === 'boolean-flag' ? entry.placeholder : ` ${entry.placeholder}`;
    const where =
      entry.key === 'config'
        ? `env ${entry.env}`
        : `env ${entry.env}; file key "${entry.key}"${entry.sensitive ? '; secret' : ''}`;
    const fallback = entry.required ? 'required' : `default ${entry.defaultText}`;
    lines.push('', `  ${entry.flag}${value}`, `${indent}${where}; ${fallback}`);
    lines.push(...wrap(entry.doc, width, indent));
  }
  lines.push(
    '',
    'Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 on a failure, 2 on bad configuration.',
    '',
  );
  return lines.join('\n');
}
