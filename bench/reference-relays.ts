// The relays measured beside rbuddy to show what the extra hop costs whoever makes it: a bare
// Node pipe (the floor of any relay written for Node) and HAProxy (a native one). Each runs in
// a process of its own, and replicas follow it as they follow rbuddy.
import { startBareRelay } from './bare-relay.js';
import { haproxyVersion, startHaproxyRelay } from './haproxy-relay.js';
import type { Endpoint, RelayProcess } from './links.js';
import type { BenchTls } from './tls.js';

export type ReferencePath = 'bare-relay' | 'haproxy';

/** Starts a reference relay to `master`; with `tls`, TLS on both of its sides (HAProxy only). */
export function startReferenceRelay(
  path: ReferencePath,
  master: Endpoint,
  tls?: BenchTls,
): Promise<RelayProcess> {
  if (path === 'haproxy') return startHaproxyRelay(master, tls);
  if (tls !== undefined) throw new Error('the bare Node pipe relays plain TCP only');
  return startBareRelay(master);
}

/**
 * The reference relays this machine can run, each with the name the report gives it (the bare
 * pipe is the floor for Node; HAProxy the native one, with its version), and why any other is
 * left out. Over TLS, HAProxy alone: the bare pipe is a floor for plain TCP only.
 */
export function availableReferences(tls = false): {
  paths: ReferencePath[];
  labels: Record<ReferencePath, string>;
  skipped: string | undefined;
} {
  const haproxy = haproxyVersion();
  const labels: Record<ReferencePath, string> = {
    'bare-relay': 'a bare Node pipe (floor)',
    haproxy: 'version' in haproxy ? `HAProxy ${haproxy.version} (native)` : 'HAProxy (native)',
  };
  const plain: ReferencePath[] = tls ? [] : ['bare-relay'];
  return 'version' in haproxy
    ? { paths: [...plain, 'haproxy'], labels, skipped: undefined }
    : { paths: plain, labels, skipped: haproxy.missing };
}
