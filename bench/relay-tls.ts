// The TLS part of the bench: full syncs (disk snapshot) and WAIT latency with replication over
// TLS on both hops (replica → rbuddy's TLS listener, rbuddy → the master's TLS port), against
// direct TLS replication (replica → the master's TLS port) and HAProxy terminating TLS on both
// sides, measured as the relay part measures them (relay.ts: ABBA, medians, the same code), on
// a dataset of its own. The plain part's figures, when it ran before in the same process, show
// what TLS itself adds (tls-report.ts).
import { stopAllRedis } from '../harness/redis-server.js';
import { detach } from './links.js';
import { loadAverage } from './machine.js';
import { progress } from './progress.js';
import { startProxy } from './proxy.js';
import {
  follower,
  measureFullSyncs,
  measureWaits,
  referencesFor,
  startNodes,
  type SyncAndWaitMeasurements,
} from './relay.js';
import type { Settings } from './settings.js';
import { createBenchPki } from './tls.js';

/** The relay part's measurements, less what the TLS part does not take (catch-up, diskless). */
export type TlsMeasurements = SyncAndWaitMeasurements;

export async function measureTls(settings: Settings): Promise<TlsMeasurements> {
  progress('TLS: a throwaway CA and one certificate for 127.0.0.1 (openssl)');
  const pki = await createBenchPki();
  try {
    const references = referencesFor(true);
    const { nodes, machine, dataset } = await startNodes(settings, pki.tls);
    const syncs = await measureFullSyncs(nodes, settings, 'disk', references.paths);
    progress('WAIT over TLS: flushing the master, one proxy for the WAIT runs');
    await nodes.masterClient.flushall();
    const proxy = await startProxy(nodes, settings.proxy);
    try {
      const waits = await measureWaits(settings, nodes, follower(nodes, proxy), references.paths);
      await detach(nodes.masterClient, nodes.replicaClient);
      return {
        settings,
        machine: { ...machine, 'load average at end': loadAverage() },
        dataset,
        references,
        full: { disk: syncs.runs },
        fullFloor: { disk: syncs.floor },
        ...waits,
      };
    } finally {
      await proxy.stop();
    }
  } finally {
    await stopAllRedis();
    await pki.remove();
  }
}
