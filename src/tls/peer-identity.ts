// Identity by certificate: whether a peer's verified certificate belongs to a configured node.
// The operator names each node by patterns over the certificate's subject CN and its
// subjectAltName entries (docs/design.md, "Identity of a replica"); this is only ever applied to
// a certificate the TLS handshake has already verified against the configured CA, so a pattern
// says *which* of the CA's certificates is this node, never whether to trust the CA.

import { BlockList, isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { ConfigError } from '../errors.js';

export type IdentityPattern =
  /** Subject CN, exact (case-insensitive) or with a leftmost `*.` wildcard label. */
  | { kind: 'cn'; pattern: string }
  /** A DNS subjectAltName, exact (case-insensitive) or with a leftmost `*.` wildcard label. */
  | { kind: 'dns'; pattern: string }
  /** An IP subjectAltName: one address, or a CIDR range. */
  | { kind: 'ip'; pattern: string; addresses: BlockList }
  /** A URI subjectAltName (a SPIFFE id, say), exact. */
  | { kind: 'uri'; pattern: string };

/** The names a certificate carries, as matched by patterns. */
export interface CertificateNames {
  commonNames: string[];
  dns: string[];
  ips: string[];
  uris: string[];
}

export type IdentityMatch =
  { matched: true; pattern: string; name: string } | { matched: false; names: CertificateNames };

/**
 * Parses `cn:NAME`, `dns:NAME`, `ip:ADDRESS[/BITS]`, `uri:URI`, comma separated (the value of
 * `--active-tls-identity` / `--standby-tls-identity`). Throws a ConfigError naming `key`.
 */
export function parseIdentityPatterns(text: string, key: string): IdentityPattern[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return items.map((item) => parseIdentityPattern(item, key));
}

function parseIdentityPattern(item: string, key: string): IdentityPattern {
  const colon = item.indexOf(':');
  const kind = colon < 0 ? '' : item.slice(0, colon).toLowerCase();
  const value = colon < 0 ? '' : item.slice(colon + 1).trim();
  const bad = (why: string): ConfigError =>
    new ConfigError(
      `${key}: "${item}" ${why} (expected cn:, dns:, ip: or uri: followed by a value)`,
      key,
    );
  if (value === '') throw bad('has no value');
  switch (kind) {
    case 'cn':
    case 'dns': {
      const name = normalizeDnsName(value);
      if (name.slice(1).includes('*') || (name.startsWith('*') && !name.startsWith('*.'))) {
        throw bad('may use * only as the whole leftmost label (*.example.com)');
      }
      if (name.startsWith('*.') && !name.slice(2).includes('.')) {
        throw bad('is a wildcard over a top-level domain');
      }
      return { kind, pattern: name };
    }
    case 'ip': {
      const addresses = new BlockList();
      const [address = '', bits, ...rest] = value.split('/');
      const family = isIP(address);
      if (family === 0 || rest.length > 0) throw bad('is not an IP address or CIDR range');
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) {
        addresses.addAddress(address, type);
      } else {
        const prefix = Number(bits);
        if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
          throw bad('has a bad prefix length');
        }
        addresses.addSubnet(address, prefix, type);
      }
      return { kind: 'ip', pattern: value, addresses };
    }
    case 'uri':
      return { kind: 'uri', pattern: value };
    default:
      throw bad('has no known kind');
  }
}

/**
 * The patterns used when the operator configured none: the node's configured host must appear
 * among the certificate's subjectAltNames, as a client verifies a server's name (RFC 6125).
 */
export function defaultIdentityPatterns(host: string): IdentityPattern[] {
  return parseIdentityPatterns(`${isIP(host) === 0 ? 'dns' : 'ip'}:${host}`, 'default identity');
}

/** Whether any pattern matches a name on the certificate. */
export function matchIdentity(
  names: CertificateNames,
  patterns: readonly IdentityPattern[],
): IdentityMatch {
  for (const pattern of patterns) {
    const name = matchOne(names, pattern);
    if (name !== undefined)
      return { matched: true, pattern: `${pattern.kind}:${pattern.pattern}`, name };
  }
  return { matched: false, names };
}

function matchOne(names: CertificateNames, pattern: IdentityPattern): string | undefined {
  switch (pattern.kind) {
    case 'cn':
      return names.commonNames.find((name) => dnsNameMatches(pattern.pattern, name));
    case 'dns':
      return names.dns.find((name) => dnsNameMatches(pattern.pattern, name));
    case 'ip':
      return names.ips.find((ip) => {
        const family = isIP(ip);
        return family !== 0 && pattern.addresses.check(ip, family === 4 ? 'ipv4' : 'ipv6');
      });
    case 'uri':
      return names.uris.find((uri) => uri === pattern.pattern);
  }
}

/** RFC 6125 §6.4.3, strictly: `*` stands for exactly one whole leftmost label. */
export function dnsNameMatches(pattern: string, name: string): boolean {
  const candidate = normalizeDnsName(name);
  if (candidate.includes('*')) return false;
  if (!pattern.startsWith('*.')) return candidate === pattern;
  const dot = candidate.indexOf('.');
  return dot > 0 && candidate.slice(dot) === pattern.slice(1);
}

function normalizeDnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** The fields of tls.PeerCertificate (or X509Certificate) that carry names. */
export interface NamedCertificate {
  subject?: PeerCertificate['subject'] | undefined;
  subjectaltname?: string | undefined;
}

/** The names on a certificate as tls.TLSSocket#getPeerCertificate describes it. */
export function certificateNames(cert: NamedCertificate): CertificateNames {
  // A subject with several CNs gives an array despite the declared type. Only the last (the most
  // specific, as RFC 6125 and OpenSSL's own name checks take it) counts: a certificate with
  // `CN=stranger, CN=replica-a` must not pass as whichever CN a pattern names.
  const cn: unknown = cert.subject?.CN;
  const last: unknown = Array.isArray(cn) ? cn.at(-1) : cn;
  const commonNames = typeof last === 'string' ? [last] : [];
  const names: CertificateNames = { commonNames, dns: [], ips: [], uris: [] };
  for (const { type, value } of parseSubjectAltName(cert.subjectaltname ?? '')) {
    if (type === 'DNS') names.dns.push(value);
    else if (type === 'IP Address') names.ips.push(value);
    else if (type === 'URI') names.uris.push(value);
  }
  return names;
}

/**
 * Splits Node's subjectaltname text (`DNS:a, IP Address:10.0.0.1, URI:spiffe://x`). Since Node
 * 17.3 a value with a comma, quote or other special character is written as a JSON string
 * (`DNS:"a,b"`), so that one entry can never pass for two; a plain split on ", " would be fooled.
 */
export function parseSubjectAltName(text: string): Array<{ type: string; value: string }> {
  const entries: Array<{ type: string; value: string }> = [];
  let rest = text;
  while (rest !== '') {
    const colon = rest.indexOf(':');
    if (colon < 0) break;
    const type = rest.slice(0, colon).trim();
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      const end = closingQuote(rest);
      if (end < 0) break;
      try {
        value = String(JSON.parse(rest.slice(0, end + 1)));
      } catch {
        break;
      }
      rest = rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(', ');
      value = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? '' : rest.slice(comma);
    }
    entries.push({ type, value });
    rest = rest.replace(/^, /, '');
  }
  return entries;
}

function closingQuote(text: string): number {
  for (let index = 1; index < text.length; index += 1) {
    if (text[index] === '\\') index += 1;
    else if (text[index] === '"') return index;
  }
  return -1;
}

/**
 * The peer's certificate, only if the handshake verified it against the configured CA. An
 * unverified certificate (`--tls-auth-clients optional` lets one through) names nobody.
 */
export function verifiedPeerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  // With no certificate, getPeerCertificate() answers an empty object.
  return cert !== null && Object.keys(cert).length > 0 ? cert : undefined;
}
