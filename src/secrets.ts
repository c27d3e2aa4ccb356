// Secret comparison that leaks neither the secret nor its length through timing: compare
// fixed-size digests with timingSafeEqual.
import { createHash, timingSafeEqual } from 'node:crypto';

export function sameSecret(given: string | Buffer, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
