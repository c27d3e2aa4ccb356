// The configuration under generated input (fuzz/config-target.ts): any argv, environment and
// --config file give a config or a one-line ConfigError naming the setting, never another
// exception, and a secret is never quoted back.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { SETTING_KEYS, SETTINGS } from '../../src/config/schema.js';
import { InvariantViolation } from '../../fuzz/framer-targets.js';
import { SECRET_MARK, checkConfig, type ConfigInput } from '../../fuzz/config-target.js';
import { EDGE_NUMBERS } from '../../fuzz/mutate.js';

const REQUIRED = [
  '--master',
  '127.0.0.1:6379',
  '--active',
  '127.0.0.1:6380',
  '--standby',
  'sb:6381',
];
const settings = SETTING_KEYS.filter((key) => key !== 'config').map((key) => SETTINGS[key]);

const value: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...EDGE_NUMBERS),
  fc.constantFrom(
    '127.0.0.1:6379',
    '[::1]:6379',
    '[::1]',
    'host:0',
    'host:65536',
    ':6379',
    'a:b:c',
    '0.0.0.0:0',
    'none',
    'true',
    'false',
    'yes',
    'no',
    'hold',
    'debug',
    'http://127.0.0.1:1/hook',
    'redis://x:1/0',
    'rediss://u:p@x:1',
    'user:pass',
    '{"a":1}',
    '\ud800',
    '\u0000',
    'é',
    '-',
    '--',
    'x'.repeat(300),
  ),
  fc.string({ maxLength: 12 }),
);

/** A flag and its value, as `--flag value`, `--flag=value`, a bare flag, or something else. */
const flag: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom(...settings), value, fc.nat({ max: 3 })).map(([setting, v, form]) => {
    const name = `--${setting.arg}`;
    const secret = setting.sensitive === true ? `${SECRET_MARK}${v}` : v;
    if (form === 0) return [`${name}=${secret}`];
    if (form === 1) return [name];
    return [name, secret];
  }),
  fc
    .constantFrom(
      ['--'],
      ['-h'],
      ['-x'],
      ['--nope', '1'],
      ['bare'],
      ['--master-pasword=x'],
      ['--=1'],
    )
    .map((tokens) => [...tokens]),
);

const env: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc.constantFrom(...settings.map((s) => s.env), 'RBUDDY_NOPE'),
  value,
  { maxKeys: 4 },
);

const json: fc.Arbitrary<unknown> = fc.oneof(
  value,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(value, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), value, { maxKeys: 2 }),
);
const fileKey = fc.constantFrom(
  ...SETTING_KEYS,
  '__proto__',
  'constructor',
  'toString',
  'nope',
  '',
);
const file: fc.Arbitrary<Buffer> = fc.oneof(
  fc.dictionary(fileKey, json, { maxKeys: 5 }).map((o) => Buffer.from(JSON.stringify(o))),
  fc
    .tuple(fileKey, json)
    .map(([k, v]) =>
      Buffer.from(`{${JSON.stringify(k)}:${JSON.stringify(v) ?? '1'},"__proto__":{"listen":1}}`),
    ),
  fc
    .constantFrom(
      '',
      '[]',
      'null',
      '1',
      '"x"',
      '{',
      '\ufeff{}',
      '{"master":"a:1",}',
      `{"masterPassword": "${SECRET_MARK}"`,
    )
    .map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
);

const configInput: fc.Arbitrary<ConfigInput> = fc
  .record({
    required: fc.boolean(),
    flags: fc.array(flag, { maxLength: 5 }),
    env,
    file: fc.option(file, { nil: undefined }),
  })
  .map(({ required, flags, env: vars, file: contents }) => ({
    argv: [...(required ? REQUIRED : []), ...flags.flat()],
    env: vars,
    ...(contents === undefined ? {} : { file: contents }),
  }));

const corpus = fileURLToPath(new URL('../../fuzz/corpus/config/', import.meta.url));

/** Runs the target; an InvariantViolation fails the test with its message. */
function holds(input: ConfigInput): true {
  try {
    checkConfig(input);
    return true;
  } catch (error) {
    if (error instanceof InvariantViolation) assert.fail(error.message);
    throw error;
  }
}

describe('fuzzing the configuration: a config or one ConfigError line, nothing else', () => {
  it('the corpus: config files, with and without the required flags', () => {
    for (const name of readdirSync(corpus).sort()) {
      const file = readFileSync(join(corpus, name));
      holds({ argv: [], env: {}, file });
      holds({ argv: REQUIRED, env: {}, file });
    }
  });

  it('argv, environment and --config file, generated', () => {
    fc.assert(fc.property(configInput, holds), { numRuns: 1_500 });
  });
});
