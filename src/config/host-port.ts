// The `host:port` text form every address setting takes (IPv6 hosts in brackets, as
// formatHostPort in types.ts writes them), parsed into a HostPort or a reason it is not one.
import { isIPv6 } from 'node:net';
import type { HostPort } from './types.js';

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** `minPort` is 0 for listeners, which may bind port 0 (the kernel picks a free one). */
export function parseHostPort(text: string, minPort: 0 | 1): Parsed<HostPort> {
  const trimmed = text.trim();
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close === -1) return { ok: false, problem: 'missing "]" after the IPv6 address' };
    host = trimmed.slice(1, close);
    if (!isIPv6(host)) return { ok: false, problem: 'the part inside [ ] is not an IPv6 address' };
    if (trimmed[close + 1] !== ':') return { ok: false, problem: 'expected [ipv6]:port' };
    portText = trimmed.slice(close + 2);
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon === -1) return { ok: false, problem: 'expected host:port (no port given)' };
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host === '') return { ok: false, problem: 'expected host:port (the host is empty)' };
    if (host.includes(':')) {
      return { ok: false, problem: 'write an IPv6 address in brackets, e.g. [::1]:6379' };
    }
    // Host names, IPv4 literals and container names (which may contain "_").
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(host)) {
      return { ok: false, problem: 'the host is not a valid host name or IP address' };
    }
  }
  if (!/^\d{1,5}$/.test(portText)) {
    return { ok: false, problem: `the port must be a number from ${minPort} to 65535` };
  }
  const port = Number(portText);
  if (port < minPort || port > 65535) {
    return { ok: false, problem: `the port must be from ${minPort} to 65535` };
  }
  return { ok: true, value: { host, port } };
}

/** Whether a value already holds a parsed address (a default, or a coerced string). */
export function isHostPort(value: unknown): value is HostPort {
  return (
    typeof value === 'object' &&
    value !== null &&
    'host' in value &&
    typeof value.host === 'string' &&
    'port' in value &&
    typeof value.port === 'number'
  );
}
