// The relays measured beside rbuddy to show what the extra hop costs whoever makes it: a bare
// Node pipe (the floor of any relay written for Node) and HAProxy (a native one). Each runs in
// a process of its own, and replicas follow it as they follow rbuddy.
import { startBareRelay } from './bare-relay.js';
import { haproxyVersion, startHaproxyRelay } from './haproxy-relay.js';
import type { Endpoint, RelayProcess } from './links.js';

export type ReferencePath = 'bare-relay' | 'haproxy';

export function startReferenceRelay(path: ReferencePath, master: Endpoint): Promise<RelayProcess> {
  return path === 'haproxy' ? startHaproxyRelay(master) : startBareRelay(master);
}

/**
 * The reference relays this machine can run, each with the name the report gives it (the bare
 * pipe is the floor for Node; HAProxy the native one, with its version), and why any other is
 * left out.
 */
export function availableReferences(): {
  paths: ReferencePath[];
  labels: Record<ReferencePath, string>;
  skipped: string | undefined;
} {
  const haproxy = haproxyVersion();
  const labels: Record<ReferencePath, string> = {
    'bare-relay': 'a bare Node pipe (floor)',
    haproxy: 'version' in haproxy ? `HAProxy ${haproxy.version} (native)` : 'HAProxy (native)',
  };
  return 'version' in haproxy
    ? { paths: ['bare-relay', 'haproxy'], labels, skipped: undefined }
    : { paths: ['bare-relay'], labels, skipped: haproxy.missing };
}
