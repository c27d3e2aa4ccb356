// NodeViews as NodeOps.view() builds them from INFO, for the pure start-up and failover
// decisions' tests: a replica of the proxy with data, a master, a standby mid-sync, a node down.
import type { NodeView } from '../../src/standby/node-view.js';
import { unreachableView } from '../../src/standby/node-ops.js';

/** The proxy's announce address, as its replicas report their master. */
export const PROXY = '10.0.0.9:6382';

/** A replica of the proxy, link up, with data: the healthy active, or a synced standby. */
export function replica(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return {
    id,
    reachable: true,
    error: undefined,
    role: 'slave',
    masterAddress: PROXY,
    followsProxy: true,
    linkUp: true,
    syncInProgress: false,
    loading: false,
    keys: 1000,
    runId: `run-${id}`,
    writesGuarded: false,
    servesStaleData: true,
    ...overrides,
  };
}

/** A master: the idle standby (empty) or a promoted active (with data), its writes guarded. */
export function master(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return replica(id, {
    role: 'master',
    masterAddress: undefined,
    followsProxy: false,
    linkUp: false,
    keys: 0,
    writesGuarded: true,
    ...overrides,
  });
}

/**
 * The idle standby as rbuddy holds it: an empty replica of the proxy whose sync rbuddy answers
 * -NOMASTERLINK (link down), replica-serve-stale-data no.
 */
export function held(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return replica(id, { linkUp: false, keys: 0, servesStaleData: false, ...overrides });
}

/** The standby mid-sync: attached to the proxy, the snapshot still on its way. */
export function syncing(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return replica(id, { linkUp: false, syncInProgress: true, keys: 0, ...overrides });
}

/** A node that does not answer, as NodeOps.view() reports it. */
export function down(id: string): NodeView {
  return unreachableView({ id, host: id, port: 0 }, new Error('connect ECONNREFUSED'));
}
