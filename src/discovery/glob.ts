// Redis's glob matching (util.c stringmatchlen) for PSUBSCRIBE patterns: `*`, `?`, `[abc]`,
// `[^a-z]`, and `\` to escape. A subscriber written against Redis must see the same channels here,
// so this follows Redis's rules, not a shell's (no `{a,b}`, `*` also matches `/`).

/** Byte-wise, like Redis: channel names are binary-safe. */
export function globMatch(pattern: Buffer, subject: Buffer): boolean {
  return matchAt(pattern, 0, subject, 0, { budget: 10_000 });
}

/**
 * Patterns like `*a*a*a*…b` are exponential with naive backtracking; Redis bounds the nesting,
 * we bound the work: a pattern that runs out of budget does not match (and cannot stall the loop).
 */
interface Budget {
  budget: number;
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const BACKSLASH = 0x5c;
const DASH = 0x2d;

function matchAt(pattern: Buffer, p: number, subject: Buffer, s: number, work: Budget): boolean {
  if (--work.budget < 0) return false;
  while (p < pattern.length && s <= subject.length) {
    const c = pattern[p];
    switch (c) {
      case STAR: {
        while (p + 1 < pattern.length && pattern[p + 1] === STAR) p++;
        if (p + 1 === pattern.length) return true;
        for (let from = s; from <= subject.length; from++) {
          if (matchAt(pattern, p + 1, subject, from, work)) return true;
          if (work.budget < 0) return false;
        }
        return false;
      }
      case QUESTION:
        if (s >= subject.length) return false;
        s++;
        p++;
        break;
      case OPEN: {
        if (s >= subject.length) return false;
        const result = matchClass(pattern, p + 1, subject[s]);
        if (!result.matched) return false;
        p = result.next;
        s++;
        break;
      }
      default: {
        // `\x` is a literal x; a trailing backslash is itself.
        const literal = c === BACKSLASH && p + 1 < pattern.length ? ++p : p;
        if (s >= subject.length || pattern[literal] !== subject[s]) return false;
        p++;
        s++;
      }
    }
  }
  return p === pattern.length && s === subject.length;
}

/** `[...]` starting after the `[`; returns whether `byte` is in it and where the pattern goes on. */
function matchClass(
  pattern: Buffer,
  start: number,
  byte: number,
): { matched: boolean; next: number } {
  let p = start;
  const negate = pattern[p] === CARET;
  if (negate) p++;
  let matched = false;
  while (p < pattern.length && pattern[p] !== CLOSE) {
    const c = pattern[p];
    if (c === BACKSLASH && p + 1 < pattern.length) {
      p++;
      if (pattern[p] === byte) matched = true;
    } else if (p + 2 < pattern.length && pattern[p + 1] === DASH && pattern[p + 2] !== CLOSE) {
      let low = c;
      let high = pattern[p + 2];
      if (low > high) [low, high] = [high, low];
      if (byte >= low && byte <= high) matched = true;
      p += 2;
    } else if (c === byte) {
      matched = true;
    }
    p++;
  }
  // An unterminated class ends at the pattern's end, as in Redis.
  const next = p < pattern.length ? p + 1 : p;
  return { matched: negate ? !matched : matched, next };
}
