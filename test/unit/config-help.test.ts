// The configuration contract (docs/configuration.md): the schema and --help.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHelpRequested } from '../../src/config/argv.js';
import { formatHelp, schemaEntries } from '../../src/config/help.js';
import { load, REQUIRED } from '../helpers/config-fixtures.js';

describe('schema and help', () => {
  const entries = schemaEntries();

  it('covers every RbuddyConfig key, each flag and env var named after it', () => {
    const keys = new Set<string>(entries.map((entry) => entry.key));
    for (const key of Object.keys(load(REQUIRED))) assert.ok(keys.has(key), key);
    for (const entry of entries) {
      const kebab = entry.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      assert.equal(entry.flag, `--${kebab}`);
      assert.equal(entry.env, `RBUDDY_${kebab.replace(/-/g, '_').toUpperCase()}`);
      assert.ok(entry.doc.length > 20, `${entry.key} has a doc string`);
    }
    assert.deepEqual(
      entries.filter((entry) => entry.required).map((entry) => entry.key),
      ['master', 'active', 'standby'],
    );
  });

  it('formatHelp lists every flag and env var, and --help/-h', () => {
    const help = formatHelp();
    for (const entry of entries) {
      assert.ok(help.includes(entry.flag), entry.flag);
      assert.ok(help.includes(entry.env), entry.env);
    }
    assert.match(help, /-h, --help/);
    assert.match(help, /^Usage: rbuddy/);
  });

  it('isHelpRequested sees --help and -h, but not a value that looks like one', () => {
    assert.equal(isHelpRequested(['--help']), true);
    assert.equal(isHelpRequested(['--bogus', '-h']), true);
    assert.equal(isHelpRequested(['--master-password', '-h']), false);
    assert.equal(isHelpRequested(REQUIRED), false);
  });
});
