// DNS rebinding (docs/design.md, "Limits and trust"): a web page on attacker.example can have its
// name resolve to 127.0.0.1 and then read any unauthenticated GET of an admin API on this host,
// from the victim's browser. Its requests still say `Host: attacker.example`. So the reads that
// need no token answer only Host names that a stranger cannot rebind: the IP address the request
// arrived on, loopback names (browsers resolve `localhost` and `*.localhost` themselves), the
// --http host, and the names the operator lists in --http-allowed-hosts.
import { isIP } from 'node:net';

/** A Host header value: a name or an IP literal (IPv6 in brackets), with an optional port. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?$/;

/** Lower case, no brackets, no trailing dot, IPv4-mapped IPv6 as plain IPv4. */
function normalise(name: string): string {
  let host = name.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.startsWith('::ffff:') && isIP(host.slice('::ffff:'.length)) === 4) {
    host = host.slice('::ffff:'.length);
  }
  return host;
}

function isLoopbackName(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

export interface HostCheckOptions {
  /** The --http host (it may be a name the operator uses). */
  listenHost: string;
  /** --http-allowed-hosts. */
  allowedHosts: readonly string[];
}

/**
 * Whether a request with this Host header, arriving on `localAddress`, may be answered. No Host
 * at all (HTTP/1.0; Node refuses an HTTP/1.1 request without one) is not a browser: allowed.
 */
export function hostCheck(
  options: HostCheckOptions,
): (host: string | undefined, localAddress: () => string | undefined) => boolean {
  const names = new Set([options.listenHost, ...options.allowedHosts].map(normalise));
  return (header, localAddress) => {
    if (header === undefined) return true;
    const match = HOST_HEADER.exec(header.trim());
    if (match?.[1] === undefined) return false;
    const host = normalise(match[1]);
    if (isLoopbackName(host) || names.has(host)) return true;
    const local = localAddress();
    return local !== undefined && normalise(local) === host;
  };
}
