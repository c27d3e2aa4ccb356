// What a value parsed from JSON must be before its fields are read: an object with string keys,
// not null and not an array. Shared by every reader of a file rbuddy wrote (the state file, the
// webhook outbox) so that they agree on what "an object" is.

/** True for a JSON object (not null, not an array), whose fields may then be read as unknown. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
