// The one root logger: pino, JSON lines on stdout. Other code derives children from it
// (`logger.child({ session, replica, phase })`), which inherit its redaction.

import { pino } from 'pino';

export type Logger = pino.Logger;

export const REDACTED = '[redacted]';

/**
 * Field names that hold secrets wherever they appear. The config names come from src/config.ts
 * (its `sensitive` settings); the generic ones cover credentials passed around by other code
 * (connection options, AUTH arguments, HTTP headers).
 */
const SECRET_FIELDS = [
  'masterPassword',
  'replicaPassword',
  'listenPassword',
  'replicaCredentials',
  'httpToken',
  'webhookSecret',
  'password',
  'pass',
  'masterauth',
  'requirepass',
  'token',
  'secret',
  'authorization',
  'cookie',
];

/**
 * pino's redaction (fast-redact) matches exact paths, with `*` for one level; it cannot search
 * a whole object. Top level plus two wildcard levels covers `{ config: { masterPassword } }`,
 * `{ options: { auth: { password } } }` and `{ req: { headers: { authorization } } }`; each extra
 * level would cost on every log call, so deeper secrets must not be logged at all.
 */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
  'req.headers["x-api-key"]',
  'headers["x-api-key"]',
];

export interface CreateLoggerOptions {
  level: string;
  /** Where the JSON lines go; default stdout. Tests pass a stream to capture them. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const loggerOptions: pino.LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "level":"warn" reads better in a log pipeline than "level":40.
    formatters: { level: (label) => ({ level: label }) },
    // An empty secret stays empty, so "no password configured" shows in the log; anything
    // else, whatever its type, becomes "[redacted]".
    redact: {
      paths: [...REDACT_PATHS],
      censor: (value: unknown) => (value === '' || value === undefined ? value : REDACTED),
    },
  };
  // The default destination writes stdout asynchronously (a slow log reader must not stall the
  // relay); pino flushes it synchronously on process.exit, so exit paths lose no line.
  return options.destination === undefined
    ? pino(loggerOptions)
    : pino(loggerOptions, options.destination);
}
