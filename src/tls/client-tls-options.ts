// Options for rbuddy's outgoing TLS connections: to the master (every replication session and
// the health probe, through tls.connect) and to the replicas and --publish targets (through
// ioredis's `tls` option). Both read the material when the connection is made, so a reload is
// picked up by the next connection and never disturbs one that is up.

import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import type { TlsMaterialSource } from './reloadable-tls.js';

export interface TlsTarget {
  /** Where to connect (an address or a name). */
  host: string;
  /** The name the server's certificate must carry (`--master-tls-servername`); default `host`. */
  servername?: string | undefined;
  /**
   * Verify the chain only, no name: as a Redis replica verifies its master on a TLS replication
   * link (rbuddy's check of its own --announce, which may be an address its certificate does not
   * name). Default false.
   */
  anyName?: boolean | undefined;
}

/**
 * tls.connect options for one new connection to `target`, with the material current now. The
 * server's certificate must chain to the configured CA (or the system's roots without one) and
 * carry the expected name: a DNS name is also sent as SNI; an IP address is checked against the
 * certificate's IP SANs and not sent (SNI must not carry an address, RFC 6066 §3).
 */
export function tlsConnectOptions(source: TlsMaterialSource, target: TlsTarget): ConnectionOptions {
  const expected = target.servername ?? target.host;
  return {
    host: target.host,
    secureContext: source.current.secureContext,
    rejectUnauthorized: true,
    ...(isIP(expected) === 0 ? { servername: expected } : {}),
    // tls.connect checks `servername ?? host`; with an IP servername (no SNI) and a host name to
    // connect to, that would be the wrong name: check the expected one explicitly.
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      target.anyName === true ? undefined : checkServerIdentity(expected, cert),
  };
}

/**
 * ioredis's `tls` option for a client that reconnects by itself. ioredis copies `tls` into the
 * options of every tls.connect it makes (StandaloneConnector, Object.assign), so the getter
 * hands each reconnect the material current at that moment.
 */
export function ioredisTlsOptions(source: TlsMaterialSource, target: TlsTarget): ConnectionOptions {
  const fixed = tlsConnectOptions(source, target);
  return {
    ...fixed,
    get secureContext() {
      return source.current.secureContext;
    },
  };
}
