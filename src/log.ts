// The one root logger: pino, JSON lines on stdout. Other code derives children from it
// (`logger.child({ session, replica, phase })`), which inherit its redaction.

import { pino } from 'pino';
import { REDACTED } from './config/redaction.js';
import { SENSITIVE_KEYS } from './config/schema.js';

export type Logger = pino.Logger;

/**
 * Secret names that are not settings: credentials as other code passes them around. Connection
 * options and AUTH arguments (`password`, `pass`), Redis's own names for its passwords
 * (`masterauth`, `requirepass`, should a node's configuration be logged), tokens and secrets
 * under their generic names, and the HTTP headers that carry credentials.
 */
const OTHER_SECRET_FIELDS = [
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
 * Field names that hold secrets wherever they appear: every setting the schema marks
 * `sensitive` (so a new secret setting is redacted without touching this file), plus the above.
 */
const SECRET_FIELDS: readonly string[] = [...SENSITIVE_KEYS, ...OTHER_SECRET_FIELDS];

/**
 * pino's redaction (fast-redact) matches exact paths, with `*` for one level; it cannot search
 * a whole object. Top level plus two wildcard levels covers `{ config: { masterPassword } }`,
 * `{ options: { auth: { password } } }` and `{ req: { headers: { authorization } } }`; each extra
 * level would cost on every log call, so deeper secrets must not be logged at all.
 */
const REDACT_PATHS: readonly string[] = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
  'req.headers["x-api-key"]',
  'headers["x-api-key"]',
];

interface CreateLoggerOptions {
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
