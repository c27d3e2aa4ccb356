// docs/configuration.md is generated from the convict schema; this fails when someone changes a
// setting (flag, env, default, doc, format) without regenerating it, and says how to fix that.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  CONFIG_DOC_PATH,
  REGENERATE_COMMAND,
  renderConfigurationDoc,
  renderConfigurationDocRaw,
} from '../../scripts/gen-config-docs.js';
import { schemaEntries } from '../../src/config/help.js';

describe('docs/configuration.md', () => {
  it('is up to date with the schema in src/config/schema.ts', async () => {
    let committed: string;
    try {
      committed = readFileSync(CONFIG_DOC_PATH, 'utf8');
    } catch {
      assert.fail(`docs/configuration.md is missing: run \`${REGENERATE_COMMAND}\``);
    }
    const wanted = await renderConfigurationDoc();
    if (committed !== wanted) {
      const committedLines = committed.split('\n');
      const wantedLines = wanted.split('\n');
      const line = wantedLines.findIndex((text, i) => committedLines[i] !== text);
      assert.fail(
        `docs/configuration.md is stale (first difference at line ${line + 1}): ` +
          `run \`${REGENERATE_COMMAND}\` and commit the result`,
      );
    }
  });

  it('documents every setting: flag, env, file key, default and doc', () => {
    const doc = renderConfigurationDocRaw();
    for (const entry of schemaEntries()) {
      const section = doc.split(`### \`${entry.flag}\`\n`)[1]?.split('\n### ')[0];
      assert.ok(section !== undefined, `no section for ${entry.flag}`);
      assert.match(section, new RegExp(`Environment: \`${entry.env}\``), entry.flag);
      if (entry.key !== 'config') assert.ok(section.includes(`\`${entry.key}\``), entry.key);
      assert.ok(section.includes('- Default: '), entry.flag);
      assert.ok(section.includes('- Format: '), entry.flag);
      assert.ok(section.includes(entry.doc), `doc of ${entry.flag}`);
    }
  });

  it('marks secrets and never shows a value for their default', () => {
    const doc = renderConfigurationDocRaw();
    const secrets = schemaEntries().filter((entry) => entry.sensitive);
    assert.ok(secrets.length >= 5, 'the five password/token settings are sensitive');
    for (const entry of secrets) {
      const section = doc.split(`### \`${entry.flag}\`\n`)[1]?.split('\n### ')[0] ?? '';
      assert.match(section, /- Default: \((empty|secret)\)\n/, entry.flag);
      assert.match(section, /\*\*Secret\*\*/, entry.flag);
    }
  });

  it('detects a stale file: a changed default renders differently', () => {
    const entries = schemaEntries().map((entry) =>
      entry.key === 'graceMs' ? { ...entry, defaultText: '12345' } : entry,
    );
    assert.notEqual(renderConfigurationDocRaw(entries), renderConfigurationDocRaw());
  });
});
