// Configuration checks that need the network, so they stand apart from the synchronous
// loadConfig(): cli.ts runs them before anything starts, with the same one-line ConfigError.
// `--active` and `--standby` naming one node would make rbuddy attach, promote and flush one
// server in both roles (docs/design.md, "Identity of a replica"); two spellings of one address
// (localhost and 127.0.0.1) are caught here, two addresses of one host only at runtime, by the
// nodes' run_id (decide.ts).
import { normalizeIp, resolveHost } from '../addresses.js';
import { formatHostPort, type HostPort, type RbuddyConfig } from './types.js';
import { ConfigError } from '../errors.js';

export type Resolve = (host: string) => Promise<string[]>;

/** The address both reach, if `a` and `b` name one node. */
async function sharedAddress(
  a: HostPort,
  b: HostPort,
  resolve: Resolve,
): Promise<string | undefined> {
  if (a.port !== b.port) return undefined;
  if (normalizeIp(a.host) === normalizeIp(b.host)) return formatHostPort(a);
  const [first, second] = await Promise.all([resolve(a.host), resolve(b.host)]);
  const others = new Set(second.map(normalizeIp));
  const shared = first.map(normalizeIp).find((address) => others.has(address));
  return shared === undefined ? undefined : formatHostPort({ host: shared, port: a.port });
}

/**
 * Refuses `--active` and `--standby` that name one node, comparing what their hosts resolve
 * to. A host that does not resolve is not an error here: a node down at start is retried.
 */
export async function checkDistinctReplicas(
  config: Pick<RbuddyConfig, 'active' | 'standby'>,
  resolve: Resolve = resolveHost,
): Promise<void> {
  const shared = await sharedAddress(config.active, config.standby, resolve);
  if (shared === undefined) return;
  const active = formatHostPort(config.active);
  const standby = formatHostPort(config.standby);
  const names = active === standby ? `both ${active}` : `${active} and ${standby}, both ${shared}`;
  throw new ConfigError(
    `invalid settings "active" and "standby": they name one node (${names}); give two different replicas`,
    'active',
  );
}
