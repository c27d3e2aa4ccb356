// Redis's glob matching (util.c stringmatchlen) for PSUBSCRIBE patterns: `*`, `?`, `[abc]`,
// `[^a-z]`, and `\` to escape. A subscriber written against Redis must see the same channels here,
// so this follows Redis's rules, not a shell's (no `{a,b}`, `*` also matches `/`).
//
// Every token but `*` matches exactly one byte, so the pattern is matched left to right,
// remembering only the last `*`: on a mismatch, that star takes one more byte and the rest is
// tried again. Earlier stars never need to be revisited (a longer match for them would only start
// the rest later, which the last star already covers), so the work is at most
// O(tokens × subject length), whatever the pattern: a subscriber cannot make the publisher
// backtrack exponentially (stringmatchlen's `skipLongerMatches` cut-off makes the same argument).

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const BACKSLASH = 0x5c;
const DASH = 0x2d;

/** One byte: a literal, any byte (`?`), or a class: sorted-out [low, high] pairs, maybe negated. */
type OneByte =
  | { kind: 'literal'; byte: number }
  | { kind: 'any' }
  | { kind: 'class'; negate: boolean; ranges: number[] };
type Token = { kind: 'star' } | OneByte;

/** Steps taken, for tests that bound the work without timing it. */
export interface GlobWork {
  steps: number;
}

/** Byte-wise, like Redis: channel names are binary-safe. */
export function globMatch(pattern: Buffer, subject: Buffer, work?: GlobWork): boolean {
  const tokens = tokenize(pattern);
  // Each non-star token takes one byte: a pattern needing more bytes than the subject has cannot
  // match, and this also keeps the work below O(subject length²) for long patterns.
  let needed = 0;
  for (const token of tokens) if (token.kind !== 'star') needed++;
  if (needed > subject.length) return false;

  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    if (work !== undefined) work.steps++;
    const token = tokens[p];
    if (token !== undefined && token.kind === 'star') {
      starP = p++;
      starS = s;
    } else if (token !== undefined && matchesByte(token, subject[s] ?? -1)) {
      p++;
      s++;
    } else if (starP >= 0) {
      p = starP + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (tokens[p]?.kind === 'star') p++;
  return p === tokens.length;
}

function matchesByte(token: OneByte, byte: number): boolean {
  switch (token.kind) {
    case 'literal':
      return token.byte === byte;
    case 'any':
      return true;
    case 'class': {
      let matched = false;
      for (let i = 0; i + 1 < token.ranges.length && !matched; i += 2) {
        matched = byte >= (token.ranges[i] ?? 0) && byte <= (token.ranges[i + 1] ?? -1);
      }
      return token.negate ? !matched : matched;
    }
  }
}

/** Consecutive stars are one star (they match the same). */
function tokenize(pattern: Buffer): Token[] {
  const tokens: Token[] = [];
  let p = 0;
  while (p < pattern.length) {
    const c = pattern[p] ?? 0;
    if (c === STAR) {
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
      p++;
    } else if (c === QUESTION) {
      tokens.push({ kind: 'any' });
      p++;
    } else if (c === OPEN) {
      const parsed = parseClass(pattern, p + 1);
      tokens.push(parsed.token);
      p = parsed.next;
    } else {
      // `\x` is a literal x; a trailing backslash is itself.
      const literal = c === BACKSLASH && p + 1 < pattern.length ? ++p : p;
      tokens.push({ kind: 'literal', byte: pattern[literal] ?? 0 });
      p++;
    }
  }
  return tokens;
}

/** `[...]` starting after the `[`; returns the class and where the pattern goes on. */
function parseClass(pattern: Buffer, start: number): { token: OneByte; next: number } {
  let p = start;
  const negate = pattern[p] === CARET;
  if (negate) p++;
  const ranges: number[] = [];
  while (p < pattern.length && pattern[p] !== CLOSE) {
    const c = pattern[p] ?? 0;
    if (c === BACKSLASH && p + 1 < pattern.length) {
      p++;
      ranges.push(pattern[p] ?? 0, pattern[p] ?? 0);
    } else if (p + 2 < pattern.length && pattern[p + 1] === DASH && pattern[p + 2] !== CLOSE) {
      const other = pattern[p + 2] ?? 0;
      ranges.push(Math.min(c, other), Math.max(c, other));
      p += 2;
    } else {
      ranges.push(c, c);
    }
    p++;
  }
  // An unterminated class ends at the pattern's end, as in Redis.
  const next = p < pattern.length ? p + 1 : p;
  return { token: { kind: 'class', negate, ranges }, next };
}
