// Every error rbuddy raises, in one place, each with a stable `code`. Tests and callers branch on
// `code`, never on the message (the messages are for people and may change).

export type RbuddyErrorCode =
  | 'RBUDDY_ERR_CONFIG'
  | 'RBUDDY_ERR_PROTOCOL'
  | 'RBUDDY_ERR_UPSTREAM_CONNECT'
  | 'RBUDDY_ERR_UPSTREAM_TIMEOUT'
  | 'RBUDDY_ERR_UPSTREAM_AUTH'
  | 'RBUDDY_ERR_UPSTREAM_CLOSED'
  | 'RBUDDY_ERR_UNEXPECTED_REPLY'
  | 'RBUDDY_ERR_REPLICA_DRAIN_TIMEOUT'
  | 'RBUDDY_ERR_REPLICA_TIMEOUT'
  | 'RBUDDY_ERR_UPSTREAM_DRAIN_TIMEOUT'
  | 'RBUDDY_ERR_SESSION_REPLACED'
  | 'RBUDDY_ERR_WEBHOOK_DELIVERY'
  | 'RBUDDY_ERR_OUTBOX_ENTRY'
  | 'RBUDDY_ERR_STATE_DIR_LOCKED'
  | 'RBUDDY_ERR_STATE_DIR_LOCK_LOST'
  | 'RBUDDY_ERR_STATE_DIR_ACCESS'
  | 'RBUDDY_ERR_STATE_WRITE'
  | 'RBUDDY_ERR_NOT_LEADER'
  | 'RBUDDY_ERR_ETCD_UNAVAILABLE';

export interface RbuddyErrorOptions {
  cause?: unknown;
}

export class RbuddyError extends Error {
  readonly code: RbuddyErrorCode;

  constructor(code: RbuddyErrorCode, message: string, options: RbuddyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad configuration: names the key so the operator can fix it in one go. */
/** Whatever was thrown, as an Error (a non-Error throw becomes one with its text). */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

export class ConfigError extends RbuddyError {
  readonly key: string | undefined;
  constructor(message: string, key?: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_CONFIG', message, options);
    this.key = key;
  }
}

/**
 * Malformed RESP or replication framing. The message is what Redis itself would say after
 * "-ERR Protocol error: " so that clients see familiar text.
 */
export class ProtocolError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_PROTOCOL', message, options);
  }
}

export class UpstreamConnectError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_UPSTREAM_CONNECT', message, options);
  }
}

export class UpstreamTimeoutError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_UPSTREAM_TIMEOUT', message, options);
  }
}

export class UpstreamAuthError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_UPSTREAM_AUTH', message, options);
  }
}

export class UpstreamClosedError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_UPSTREAM_CLOSED', message, options);
  }
}

/** A node answered a control command with a reply of a shape that command never has. */
export class UnexpectedReplyError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_UNEXPECTED_REPLY', message, options);
  }
}

/** A streaming replica that sent nothing (no ACK, no newline) for repl-timeout. */
export class ReplicaTimeoutError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_REPLICA_TIMEOUT', message, options);
  }
}

/** A peer did not read what we had for it within the drain timeout (repl-timeout). */
export class DrainTimeoutError extends RbuddyError {
  constructor(
    code: 'RBUDDY_ERR_REPLICA_DRAIN_TIMEOUT' | 'RBUDDY_ERR_UPSTREAM_DRAIN_TIMEOUT',
    message: string,
    options: RbuddyErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

export class SessionReplacedError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_SESSION_REPLACED', message, options);
  }
}

/** A file in a webhook outbox that is not an event rbuddy wrote (corrupt, or put there by hand). */
export class OutboxEntryError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_OUTBOX_ENTRY', message, options);
  }
}

/** Another rbuddy holds the --state-dir: two processes on one state would both act. */
export class StateDirLockedError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_STATE_DIR_LOCKED', message, options);
  }
}

/** The --state-dir lock this process held was taken or removed by someone else. */
export class StateDirLockLostError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_STATE_DIR_LOCK_LOST', message, options);
  }
}

/** The --state-dir cannot be created or written by the user rbuddy runs as. */
export class StateDirAccessError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_STATE_DIR_ACCESS', message, options);
  }
}

/** state.json could not be written (disk full, read-only, a directory in the way…). */
export class StateWriteError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_STATE_WRITE', message, options);
  }
}

/**
 * A write to the group's shared state (etcd) by an instance that does not lead it, or no longer
 * with the fencing token it was elected with: nothing was changed, and it must act no further.
 */
export class NotLeaderError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_NOT_LEADER', message, options);
  }
}

/** etcd did not answer in time (no quorum, unreachable, refused): nothing is known of the result. */
export class EtcdUnavailableError extends RbuddyError {
  constructor(message: string, options: RbuddyErrorOptions = {}) {
    super('RBUDDY_ERR_ETCD_UNAVAILABLE', message, options);
  }
}

/**
 * The `code` of a thrown value (a system error's ENOENT, ECONNREFUSED …, or an RbuddyError's),
 * when it has a string one; for catch clauses, where the value is `unknown`.
 */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
