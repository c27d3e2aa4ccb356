// Network addresses as rbuddy compares them: one spelling per address, and host names resolved
// to every address they have. Used wherever a peer is matched against a configured node.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** "::ffff:10.0.0.1" and "10.0.0.1" are the same peer; IPv6 compares lower-case. */
export function normalizeIp(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

/** Every address a host resolves to; none when it does not resolve (yet): the caller decides. */
export async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  try {
    return (await lookup(host, { all: true })).map((record) => record.address);
  } catch {
    return [];
  }
}
