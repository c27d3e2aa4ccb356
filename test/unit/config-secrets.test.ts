// The configuration contract (docs/configuration.md): a secret is never quoted, in errors or in the
// redacted config.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schemaEntries } from '../../src/config/help.js';
import { redactedConfig } from '../../src/config/redaction.js';
import { load, rejects, REQUIRED, SECRET, writeConfig } from '../helpers/config-fixtures.js';

describe('secrets', () => {
  const secretEnv = {
    RBUDDY_MASTER_PASSWORD: SECRET,
    RBUDDY_REPLICA_PASSWORD: SECRET,
    RBUDDY_LISTEN_PASSWORD: SECRET,
    RBUDDY_HTTP_TOKEN: SECRET,
    RBUDDY_WEBHOOK_SECRET: `whsec_${SECRET}`,
  };

  it('never appear in error messages', () => {
    const badFile = writeConfig({ masterPassword: 12345, httpToken: SECRET });
    const cases: Array<[string[], Record<string, string>]> = [
      [[...REQUIRED, '--grace-ms', '-1'], secretEnv],
      [['--master-password', SECRET], secretEnv],
      [[...REQUIRED, '--config', badFile], secretEnv],
      [[...REQUIRED, '--publish', `redis://:${SECRET}@x:6379,bogus`], {}],
      [[...REQUIRED, '--publish', `nope://:${SECRET}@x:6379`], {}],
      [[...REQUIRED, '--webhook', `hooks.example.com/services/${SECRET}`], {}],
      [[...REQUIRED, '--webhook', `ftp://hooks.example.com/${SECRET}`], {}],
    ];
    for (const [argv, env] of cases) {
      const error = rejects(argv, env);
      assert.ok(!error.message.includes(SECRET), error.message);
    }
    const numeric = rejects([...REQUIRED, '--config', badFile], {}, '"masterPassword"');
    assert.ok(!numeric.message.includes('12345'), numeric.message);
  });

  it('are redacted in redactedConfig, and empty ones stay visibly empty', () => {
    const config = load(
      [
        ...REQUIRED,
        '--webhook',
        `https://hooks.example.com/services/${SECRET}?t=${SECRET}`,
        '--publish',
        `replicas,redis://user:${SECRET}@events.example:6379/0`,
      ],
      secretEnv,
    );
    assert.equal(config.masterPassword, SECRET, 'the loaded config keeps the real value');
    const redacted = redactedConfig(config);
    const text = JSON.stringify(redacted);
    assert.ok(!text.includes(SECRET), text);
    assert.ok(!text.includes('hunter2'), text);
    for (const key of ['masterPassword', 'replicaPassword', 'listenPassword', 'httpToken']) {
      assert.equal(redacted[key], '[redacted]', key);
    }
    assert.equal(redacted.webhookSecret, '[redacted]');
    assert.deepEqual(redacted.webhook, ['https://hooks.example.com/[redacted]']);
    assert.deepEqual(redacted.publish, [
      'replicas',
      'redis://user:[redacted]@events.example:6379/0',
    ]);
    assert.equal(redacted.master, '10.0.0.2:6379', 'addresses are logged as host:port');

    const plain = redactedConfig(load(REQUIRED));
    assert.equal(plain.masterPassword, '', 'no password configured is visible as such');
  });

  it('are exactly the settings marked sensitive in the schema', () => {
    const sensitive = schemaEntries()
      .filter((entry) => entry.sensitive)
      .map((entry) => entry.key)
      .sort();
    assert.deepEqual(sensitive, [
      'etcdPassword',
      'httpToken',
      'listenPassword',
      'masterPassword',
      'replicaCredentials',
      'replicaPassword',
      'webhookSecret',
    ]);
  });
});
