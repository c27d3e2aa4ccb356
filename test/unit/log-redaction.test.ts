// Secrets never reach the log: every line goes through pino's redaction, child loggers included.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { REDACTED, redactedConfig } from '../../src/config/redaction.js';
import { SENSITIVE_KEYS } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';

const SECRET = 's3cr3t-value-that-must-not-leak';

/** A destination that keeps every line pino writes (pino writes synchronously to a Writable). */
function capture(): {
  stream: Writable;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const text = (): string => chunks.join('');
  return {
    stream,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line !== '')
        .map((line): Record<string, unknown> => {
          const parsed: unknown = JSON.parse(line);
          assert.ok(typeof parsed === 'object' && parsed !== null, `a JSON object: ${line}`);
          return { ...parsed };
        }),
  };
}

describe('log redaction', () => {
  it('replaces passwords, tokens and secrets in child loggers with [redacted]', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.stream });
    const child = logger.child({ session: 7, replica: '10.0.0.5:6379', phase: 'handshake' });
    child.info(
      {
        password: SECRET,
        config: { masterPassword: SECRET, httpToken: SECRET, group: 'rbuddy' },
        upstream: { auth: { user: 'rbuddy', password: SECRET } },
        req: { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } },
        webhook: { secret: SECRET, token: SECRET },
      },
      'connecting',
    );
    assert.ok(!out.text().includes(SECRET), out.text());
    const [line] = out.lines();
    assert.ok(line !== undefined, 'one line was written');
    assert.equal(line.session, 7);
    assert.equal(line.phase, 'handshake');
    assert.equal(line.level, 'info');
    assert.equal(line.password, REDACTED);
    assert.deepEqual(line.config, {
      masterPassword: REDACTED,
      httpToken: REDACTED,
      group: 'rbuddy',
    });
    assert.deepEqual(line.upstream, { auth: { user: 'rbuddy', password: REDACTED } });
    assert.deepEqual(line.req, { method: 'POST', headers: { authorization: REDACTED } });
    assert.deepEqual(line.webhook, { secret: REDACTED, token: REDACTED });
  });

  it('redacts secrets given in the child bindings too', () => {
    const out = capture();
    const logger = createLogger({ level: 'debug', destination: out.stream });
    logger.child({ session: 1, replicaPassword: SECRET }).debug('bound');
    assert.ok(!out.text().includes(SECRET), out.text());
    assert.equal(out.lines()[0]?.replicaPassword, REDACTED);
  });

  it('logs the loaded configuration without its secrets', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.stream });
    const config = loadConfig({
      argv: ['--master', 'm:6379', '--active', 'a:6379', '--standby', 's:6379'],
      env: {
        RBUDDY_MASTER_PASSWORD: SECRET,
        RBUDDY_WEBHOOK_SECRET: `whsec_${SECRET}`,
        RBUDDY_WEBHOOK: `https://hooks.example.com/${SECRET}`,
      },
    });
    logger.info({ config: redactedConfig(config) }, 'rbuddy starting');
    // Even the raw config is caught by the logger's own redaction paths (defence in depth),
    // except for URLs, which only redactedConfig() cleans.
    logger.info({ config: { ...config, webhook: [] } }, 'raw');
    assert.ok(!out.text().includes(SECRET), out.text());
    assert.equal(out.lines().length, 2);
  });

  it('redacts every setting the schema marks sensitive, at the top level and nested', () => {
    assert.ok(SENSITIVE_KEYS.length > 0, 'the schema marks some settings sensitive');
    for (const key of SENSITIVE_KEYS) {
      const out = capture();
      const logger = createLogger({ level: 'info', destination: out.stream });
      const value = `${SECRET}-${key}`;
      logger.info({ [key]: value }, 'top level');
      logger.info({ config: { [key]: value } }, 'one level down');
      logger.info({ settings: { config: { [key]: [value] } } }, 'two levels down, in a list');
      logger.child({ [key]: value }).info('bound');
      assert.ok(!out.text().includes(SECRET), `${key} leaked: ${out.text()}`);
      assert.equal(out.lines()[0]?.[key], REDACTED, key);
    }
  });

  it('leaves empty secrets empty, so that "none configured" stays visible', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.stream });
    logger.info({ config: { masterPassword: '', httpToken: 0 } }, 'empty');
    assert.deepEqual(out.lines()[0]?.config, { masterPassword: '', httpToken: REDACTED });
  });

  it('honours the level', () => {
    const out = capture();
    const logger = createLogger({ level: 'warn', destination: out.stream });
    logger.info('dropped');
    logger.warn('kept');
    assert.deepEqual(
      out.lines().map((line) => line.msg),
      ['kept'],
    );
  });
});
