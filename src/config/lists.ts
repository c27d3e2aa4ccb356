// List-valued settings (webhooks, publish targets, allowed hosts, replica credentials): comma
// separated in the environment and on the command line; a JSON config file may also give an
// array of strings. A problem names the entry ("entry 2 of 3"), never its text, which may be a
// secret.

/** Splits a comma separated value, dropping blanks ("a, b," is two entries). */
export function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** The list a validator checks; throws (without quoting the value) when it is not one. */
export function stringList(value: unknown): string[] {
  if (!isStringArray(value)) {
    throw new Error('must be a comma separated list (or, in a config file, an array of strings)');
  }
  return value;
}

/** How a problem names an entry: "the value" when there is only one. */
export function ordinal(index: number, count: number): string {
  return count === 1 ? 'the value' : `entry ${index + 1} of ${count}`;
}
