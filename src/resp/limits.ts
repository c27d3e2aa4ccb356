// Redis's own protocol limits (src/server.h, src/networking.c processMultibulkBuffer /
// processInlineBuffer). Input beyond them is malformed, exactly as Redis would judge it.

/** proto-max-bulk-len default: 512 MB. */
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;
/** Largest multibulk (array) length the proxy accepts: 1M elements. */
export const PROTO_MAX_MULTIBULK_LEN = 1024 * 1024;
/** PROTO_INLINE_MAX_SIZE: an inline command or a length line may not exceed 64 KB. */
export const PROTO_INLINE_MAX_SIZE = 64 * 1024;
/** Redis limits unauthenticated clients to tiny commands (processMultibulkBuffer). */
const UNAUTHENTICATED_MAX_MULTIBULK_LEN = 10;
const UNAUTHENTICATED_MAX_BULK_LEN = 16384;
/** Length of a run id / replication id and of the diskless `$EOF:` mark (CONFIG_RUN_ID_SIZE). */
export const RUN_ID_SIZE = 40;

export interface CommandLimits {
  maxBulkLen: number;
  maxMultibulkLen: number;
  maxInlineSize: number;
  /**
   * These are the limits for a client that has not authenticated yet: going over them (but not
   * over Redis's own protocol limits) gets Redis's "unauthenticated multibulk length" /
   * "unauthenticated bulk length" wording, as processMultibulkBuffer does when authRequired().
   */
  unauthenticated?: boolean;
}

export const REDIS_LIMITS: CommandLimits = {
  maxBulkLen: PROTO_MAX_BULK_LEN,
  maxMultibulkLen: PROTO_MAX_MULTIBULK_LEN,
  maxInlineSize: PROTO_INLINE_MAX_SIZE,
};

export const UNAUTHENTICATED_LIMITS: CommandLimits = {
  maxBulkLen: UNAUTHENTICATED_MAX_BULK_LEN,
  maxMultibulkLen: UNAUTHENTICATED_MAX_MULTIBULK_LEN,
  maxInlineSize: PROTO_INLINE_MAX_SIZE,
  unauthenticated: true,
};

// rbuddy's own limits for the clients of its RESP port. They are far below Redis's because rbuddy
// serves only small commands (PING, AUTH, REPLCONF, SENTINEL, SUBSCRIBE): nothing legitimate
// comes near them, and each is a bound on what one connection can make rbuddy hold.

/**
 * rbuddy's proto-max-bulk-len and its client-query-buffer-limit: one argument, and everything
 * held for one incomplete command, may not exceed 1 MB. Over it: "invalid bulk length", as Redis
 * says for a bulk over its (configurable) proto-max-bulk-len.
 */
export const CLIENT_MAX_QUERY_BYTES = 1024 * 1024;
/** No command rbuddy serves takes more than a handful of arguments. */
const CLIENT_MAX_MULTIBULK_LEN = 1024;

/** Limits for an authenticated client of rbuddy's RESP port (before a sync takes it over). */
export const CLIENT_LIMITS: CommandLimits = {
  maxBulkLen: CLIENT_MAX_QUERY_BYTES,
  maxMultibulkLen: CLIENT_MAX_MULTIBULK_LEN,
  maxInlineSize: PROTO_INLINE_MAX_SIZE,
};

/**
 * Bytes of replies waiting for a normal client past which it is closed, like the hard limit of
 * Redis's client-output-buffer-limit. rbuddy stops reading a client whose replies are not drained,
 * so a client only comes near this if one read's worth of its commands asks for it: a backstop.
 * Subscribed clients are the pub/sub hub's to limit (DEFAULT_PUBSUB_OUTPUT_LIMIT), as Redis picks
 * the limit by the client's class (getClientType).
 */
export const CLIENT_OUTPUT_LIMIT = 16 * 1024 * 1024;

/**
 * Commands a client may send before it authenticates (when a password is set). Each gets
 * -NOAUTH; past this many the connection is closed, so a flood of junk lines costs nothing.
 */
export const UNAUTHENTICATED_MAX_COMMANDS = 16;
