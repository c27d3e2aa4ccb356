#!/usr/bin/env node
// Entry point: parse the configuration, start the proxy, shut down cleanly on SIGTERM/SIGINT.
//
// Exit status: 0 after --help or a clean shutdown, 1 on a failure (start-up, crash, shutdown
// that hangs or is interrupted), 2 on bad configuration.

import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RbuddyConfig } from './config/types.js';
import { isHelpRequested } from './config/argv.js';
import { formatHelp } from './config/help.js';
import { loadConfig } from './config/load.js';
import { redactedConfig } from './config/redaction.js';
import { checkDistinctReplicas } from './config/nodes.js';
import { ConfigError } from './errors.js';
import { isTlsError } from './tls/tls-errors.js';
import { createLogger, type Logger } from './log.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/**
 * A shutdown that takes longer is stuck (a peer that never answers): give up and exit 1. Under
 * Docker's default stop timeout (10 s before SIGKILL), with room for the exit itself: at 10 s the
 * deadline raced the SIGKILL (a stop with hung peers took 10.56 s and ended killed).
 */
export const SHUTDOWN_TIMEOUT_MS = 8_000;

/** Collapses a message to one line: the contract is exactly one `rbuddy: …` line on stderr. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** package.json sits one level above both src/cli.ts and dist/cli.js. */
function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    const { version } = JSON.parse(text) as { version?: unknown };
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function main(
  argv: readonly string[] = process.argv.slice(2),
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  if (isHelpRequested(argv)) {
    process.stdout.write(formatHelp());
    return;
  }

  let config: RbuddyConfig;
  try {
    config = loadConfig({ argv, env });
    await checkDistinctReplicas(config);
  } catch (error) {
    // exitCode rather than exit(): stderr may be a pipe, and returning lets it drain.
    if (error instanceof ConfigError) {
      process.stderr.write(`rbuddy: ${oneLine(error.message)}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      process.stderr.write(`rbuddy: cannot load the configuration: ${oneLine(describe(error))}\n`);
      process.exitCode = EXIT_FAILURE;
    }
    return;
  }

  const logger = createLogger({ level: config.logLevel });
  logger.info({ version: packageVersion(), config: redactedConfig(config) }, 'rbuddy starting');
  installCrashHandler(logger);

  // Imported only now, so that --help and configuration errors never load the proxy's
  // dependencies (nor fail because of them).
  const starting = import('./app.js').then(({ startApp }) =>
    startApp(config, logger, {
      // The app lost its state dir lock and closes itself: the process ends once that is done,
      // not with 0 — or at the shutdown deadline if something hangs.
      onFatal: () => {
        process.exitCode = EXIT_FAILURE;
        setTimeout(() => process.exit(EXIT_FAILURE), SHUTDOWN_TIMEOUT_MS).unref();
      },
    }),
  );
  // Handlers go in before start-up finishes: a SIGTERM during a slow start must still close
  // whatever startApp() opened, not kill the process half way.
  installSignalHandlers(logger, starting);

  try {
    await starting;
  } catch (error) {
    if (isTlsError(error)) {
      // A certificate, key or CA file that cannot be used: like a bad setting, one line that
      // names the option, and the usage exit code.
      logger.fatal({ err: error, code: error.code }, `start-up failed: ${error.message}`);
      process.stderr.write(`rbuddy: ${oneLine(error.message)}\n`);
      process.exit(EXIT_USAGE);
    }
    logger.fatal({ err: error }, `start-up failed: ${describe(error)}`);
    // The log may go to a collector; whoever started the process reads stderr (one line).
    process.stderr.write(`rbuddy: start-up failed: ${oneLine(describe(error))}\n`);
    process.exit(EXIT_FAILURE);
  }
  logger.info('rbuddy started');
}

function installSignalHandlers(
  logger: Logger,
  starting: Promise<{
    close(reason?: string): Promise<void>;
    tls: { reload(trigger: 'sighup'): Promise<void> };
  }>,
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, `second ${signal} during shutdown: exiting now`);
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    logger.info({ signal }, `${signal} received: shutting down`);
    // Not unref'd: a close() that hangs on a silent peer must still end in an exit.
    setTimeout(() => {
      logger.error(
        { timeoutMs: SHUTDOWN_TIMEOUT_MS },
        `shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS} ms: exiting`,
      );
      process.exit(EXIT_FAILURE);
    }, SHUTDOWN_TIMEOUT_MS);
    starting
      .then(async (app) => {
        await app.close(signal);
        logger.info('shutdown complete');
        process.exit(0);
      })
      .catch((error: unknown) => {
        // A failed start is reported (and exits) in main(); this is a failed close().
        logger.error({ err: error }, `shutdown failed: ${describe(error)}`);
        process.exit(EXIT_FAILURE);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // As Redis's CONFIG SET tls-*: certificates, keys and CAs are read again; live connections keep
  // theirs, new ones get the new material, a broken file keeps the old (logged, in /v1/status).
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'SIGHUP received: reloading TLS material');
    starting.then((app) => app.tls.reload('sighup')).catch(() => undefined); // a failed start is reported in main(); reload() never throws
  });
}

/**
 * A crash is logged as one JSON line like everything else, instead of Node's multi-line stack on
 * stderr. No close(): after an unexpected exception the state is unknown, and the persisted
 * state plus the restart logic are what keep the data safe. Unhandled rejections arrive here
 * too (Node's default --unhandled-rejections=throw).
 */
function installCrashHandler(logger: Logger): void {
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, `crashed: ${describe(error)}`);
    process.exit(EXIT_FAILURE);
  });
}

/**
 * True when this file is the program being run rather than a module imported by a test. The npm
 * bin entry is a symlink to dist/cli.js, so compare real paths.
 */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    process.stderr.write(`rbuddy: ${oneLine(describe(error))}\n`);
    process.exit(EXIT_FAILURE);
  });
}
