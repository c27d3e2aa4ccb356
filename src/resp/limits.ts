// Redis's own protocol limits (src/server.h, src/networking.c processMultibulkBuffer /
// processInlineBuffer). Input beyond them is malformed, exactly as Redis would judge it.

/** proto-max-bulk-len default: 512 MB. */
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;
/** Largest multibulk (array) length the proxy accepts: 1M elements. */
export const PROTO_MAX_MULTIBULK_LEN = 1024 * 1024;
/** PROTO_INLINE_MAX_SIZE: an inline command or a length line may not exceed 64 KB. */
export const PROTO_INLINE_MAX_SIZE = 64 * 1024;
/** Redis limits unauthenticated clients to tiny commands (processMultibulkBuffer). */
export const UNAUTHENTICATED_MAX_MULTIBULK_LEN = 10;
export const UNAUTHENTICATED_MAX_BULK_LEN = 16384;
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
