// Starts rbuddy in-process through the same wiring the CLI uses (loadConfig → startApp), on
// ephemeral ports, with its logs captured to a file the test can read.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startApp, type App, type AppStatus, type StartOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { HostPort } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';

export interface RbuddyUnderTest {
  app: App;
  /** The RESP listener's bound address. */
  resp: HostPort;
  /** Base URL of the admin API, e.g. http://127.0.0.1:40123 */
  httpUrl: string;
  status(): AppStatus;
  /** Every JSON log line written so far. */
  logs(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

const running = new Set<RbuddyUnderTest>();

export async function startRbuddy(options: {
  master: string;
  active: string;
  standby: string;
  args?: string[];
  env?: Record<string, string>;
  /** One instance of a group on this Coordination (an in-memory group), instead of alone. */
  coordination?: StartOptions['coordination'];
}): Promise<RbuddyUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-test-'));
  const logFile = join(dir, 'rbuddy.log');
  const config = loadConfig({
    argv: [
      '--master',
      options.master,
      '--active',
      options.active,
      '--standby',
      options.standby,
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--state-dir',
      join(dir, 'state'),
      '--log-level',
      'debug',
      ...(options.args ?? []),
    ],
    env: options.env ?? {},
  });
  const destination = pino.destination({ dest: logFile, sync: true });
  const logger = createLogger({ level: config.logLevel, destination });
  const app = await startApp(
    config,
    logger,
    options.coordination === undefined ? {} : { coordination: options.coordination },
  );
  const http = app.http.address();
  const handle: RbuddyUnderTest = {
    app,
    resp: app.proxy.address(),
    httpUrl: `http://${http.host}:${http.port}`,
    status: () => app.status(),
    logs: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    close: async () => {
      running.delete(handle);
      await app.close('test finished');
      // RBUDDY_TEST_KEEP_LOGS=1 keeps the log and state for a post-mortem.
      if (process.env.RBUDDY_TEST_KEEP_LOGS === undefined)
        rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(handle);
  return handle;
}

export async function stopAllRbuddy(): Promise<void> {
  await Promise.all([...running].map((handle) => handle.close()));
}
