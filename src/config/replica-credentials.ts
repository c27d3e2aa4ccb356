// --replica-credentials: each replica's own user and password on the RESP listener (its
// masteruser and masterauth), bound to its node, so that a replica is recognised only on a
// connection that AUTHed as that replica (docs/design.md, "Identity of a replica").
import { parseHostPort } from './host-port.js';
import { ordinal } from './lists.js';
import { formatHostPort, type HostPort, type RbuddyConfig } from './types.js';
import { ConfigError } from '../errors.js';

/** One `--replica-credentials` entry: the user and password that one replica AUTHs with. */
interface ReplicaCredential {
  user: string;
  password: string;
  /** The replica, as its --active or --standby address. */
  node: HostPort;
}

/** `USER:PASSWORD@HOST:PORT`; the password may contain ":" and "@" (the last "@" ends it). */
export function parseReplicaCredential(entry: string): ReplicaCredential | undefined {
  const at = entry.lastIndexOf('@');
  const colon = entry.indexOf(':');
  if (at < 0 || colon < 1 || colon > at) return undefined;
  const address = parseHostPort(entry.slice(at + 1), 1);
  const password = entry.slice(colon + 1, at);
  if (!address.ok || password === '' || /\s/.test(entry.slice(0, colon))) return undefined;
  return { user: entry.slice(0, colon), password, node: address.value };
}

/**
 * The checks that need other settings: each entry names a configured replica, and no user
 * serves two replicas. Entries that do not parse were already reported by their format.
 */
export function checkReplicaCredentials(
  settings: Pick<RbuddyConfig, 'active' | 'standby' | 'replicaCredentials'>,
): void {
  const replicas = [formatHostPort(settings.active), formatHostPort(settings.standby)];
  const users = new Set<string>();
  settings.replicaCredentials.forEach((entry, index) => {
    const credential = parseReplicaCredential(entry);
    if (credential === undefined) return;
    const which = ordinal(index, settings.replicaCredentials.length);
    if (!replicas.includes(formatHostPort(credential.node))) {
      throw new ConfigError(
        `invalid setting "replicaCredentials": ${which} names ${formatHostPort(credential.node)}, which is neither --active nor --standby`,
        'replicaCredentials',
      );
    }
    if (users.has(credential.user)) {
      throw new ConfigError(
        `invalid setting "replicaCredentials": ${which} reuses user "${credential.user}": each replica needs a user of its own`,
        'replicaCredentials',
      );
    }
    users.add(credential.user);
  });
}
