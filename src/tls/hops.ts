// The TLS material of every hop the configuration turns on, loaded once at start (a bad file is
// a start-up error naming its option) and reloaded together: on SIGHUP, and on a change to any
// of a hop's files. Each hop reloads on its own, so a broken replacement of one hop's files keeps
// that hop's old material and leaves the others alone.

import type { Logger } from 'pino';
import type { TlsConfig } from '../config/types.js';
import { ReloadableTls, type ReloadTrigger, type TlsStatus } from './reloadable-tls.js';
import { TLS_OPTION_NAMES, type TlsFiles } from './tls-material.js';

export type TlsHop = 'listener' | 'master' | 'replica' | 'http';

export interface TlsHops {
  /** The TLS RESP listener's certificate and the CA its client certificates must chain to. */
  readonly listener: ReloadableTls | undefined;
  /** What rbuddy verifies the master with, and its client certificate for it. */
  readonly master: ReloadableTls | undefined;
  /** The same for the replicas' control connections and rediss:// --publish targets. */
  readonly replica: ReloadableTls | undefined;
  /** The admin API's HTTPS certificate. */
  readonly http: ReloadableTls | undefined;
  /** Reloads every hop (SIGHUP); each keeps its old material if its new files are broken. */
  reload(trigger: ReloadTrigger): Promise<void>;
  /** Each hop's material for /v1/status; absent hops are left out. */
  status(): Partial<Record<TlsHop, TlsStatus>>;
  /** Stops watching the files. */
  close(): void;
}

function files(cert: string, key: string, ca: string): TlsFiles {
  return {
    ...(cert === '' ? {} : { cert }),
    ...(key === '' ? {} : { key }),
    ...(ca === '' ? {} : { ca }),
  };
}

/**
 * Loads the material of every hop that is on; throws the first TlsError (its message begins with
 * the option of the bad file). With `watch`, each hop also reloads when its files change.
 */
export async function loadTlsHops(
  config: TlsConfig,
  logger: Logger,
  options: { watch?: boolean } = {},
): Promise<TlsHops> {
  // Each hop that is on: its files, and whether it must present a certificate (a server must,
  // a client may go without one).
  const hops: ReadonlyArray<readonly [TlsHop, boolean, TlsFiles, boolean]> = [
    [
      'listener',
      config.tlsListen !== null,
      files(config.tlsCertFile, config.tlsKeyFile, config.tlsCaCertFile),
      true,
    ],
    [
      'master',
      config.masterTls,
      files(config.masterTlsCertFile, config.masterTlsKeyFile, config.masterTlsCaCertFile),
      false,
    ],
    [
      'replica',
      config.replicaTls,
      files(config.replicaTlsCertFile, config.replicaTlsKeyFile, config.replicaTlsCaCertFile),
      false,
    ],
    [
      'http',
      config.httpTlsCertFile !== '',
      files(config.httpTlsCertFile, config.httpTlsKeyFile, ''),
      true,
    ],
  ];
  const loaded = new Map<TlsHop, ReloadableTls>();
  // One after the other: the first bad file is the one reported.
  for (const [hop, on, hopFiles, requireCertificate] of hops) {
    if (!on) continue;
    const names = TLS_OPTION_NAMES[hop];
    loaded.set(hop, await ReloadableTls.load(hopFiles, { hop, logger, names, requireCertificate }));
  }
  const entries = [...loaded];
  if (options.watch === true) for (const [, tls] of entries) tls.watchFiles();
  return {
    listener: loaded.get('listener'),
    master: loaded.get('master'),
    replica: loaded.get('replica'),
    http: loaded.get('http'),
    reload: async (trigger) => {
      await Promise.all(entries.map(([, tls]) => tls.reload(trigger)));
    },
    status: () => Object.fromEntries(entries.map(([hop, tls]) => [hop, tls.status()])),
    close: () => {
      for (const [, tls] of entries) tls.close();
    },
  };
}
