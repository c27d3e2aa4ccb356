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
  const load = (hop: TlsHop, hopFiles: TlsFiles, requireCertificate: boolean) =>
    ReloadableTls.load(hopFiles, {
      hop,
      logger,
      names: TLS_OPTION_NAMES[hop],
      requireCertificate,
    });
  const listener =
    config.tlsListen === null
      ? undefined
      : await load(
          'listener',
          files(config.tlsCertFile, config.tlsKeyFile, config.tlsCaCertFile),
          true,
        );
  const master = config.masterTls
    ? await load(
        'master',
        files(config.masterTlsCertFile, config.masterTlsKeyFile, config.masterTlsCaCertFile),
        false,
      )
    : undefined;
  const replica = config.replicaTls
    ? await load(
        'replica',
        files(config.replicaTlsCertFile, config.replicaTlsKeyFile, config.replicaTlsCaCertFile),
        false,
      )
    : undefined;
  const http =
    config.httpTlsCertFile === ''
      ? undefined
      : await load('http', files(config.httpTlsCertFile, config.httpTlsKeyFile, ''), true);
  const all: ReadonlyArray<readonly [TlsHop, ReloadableTls | undefined]> = [
    ['listener', listener],
    ['master', master],
    ['replica', replica],
    ['http', http],
  ];
  const entries = all.flatMap(([hop, tls]) => (tls === undefined ? [] : [[hop, tls] as const]));
  if (options.watch === true) for (const [, tls] of entries) tls.watchFiles();
  return {
    listener,
    master,
    replica,
    http,
    reload: async (trigger) => {
      await Promise.all(entries.map(([, tls]) => tls.reload(trigger)));
    },
    status: () => Object.fromEntries(entries.map(([hop, tls]) => [hop, tls.status()])),
    close: () => {
      for (const [, tls] of entries) tls.close();
    },
  };
}
