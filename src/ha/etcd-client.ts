// The one etcd client of an instance, built from the configuration: endpoints, credentials, TLS,
// and a deadline on every call (nothing waits forever on an etcd that does not answer). Retries
// are the coordination's own (one attempt per renewal period): the client's would stretch a call
// past the renew deadline.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';

/** A member that failed twice in a row is skipped for this long (the others are tried). */
const HOST_COOLDOWN_MS = 1_000;

function readPem(path: string, key: keyof EtcdConfig): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read ${key} ${path}: ${message}`, key, { cause: error });
  }
}

/** The etcd3 options for `config`; each call (not streams: the caller bounds those) times out. */
export function etcdClientOptions(config: EtcdConfig, callTimeoutMs: number): IOptions {
  const options: IOptions = {
    hosts: [...config.etcd],
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + callTimeoutMs },
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: HOST_COOLDOWN_MS,
          breaker: new ConsecutiveBreaker(2),
        }),
      global: noop,
    },
  };
  if (config.etcdUser !== '') {
    options.auth = { username: config.etcdUser, password: config.etcdPassword };
  }
  if (config.etcdTlsCaCertFile !== '' || config.etcdTlsCertFile !== '') {
    options.credentials = {
      rootCertificate:
        // A client certificate without a CA: the CAs Node.js trusts (grpc needs them given).
        config.etcdTlsCaCertFile === ''
          ? Buffer.from(rootCertificates.join('\n'))
          : readPem(config.etcdTlsCaCertFile, 'etcdTlsCaCertFile'),
      ...(config.etcdTlsCertFile === ''
        ? {}
        : {
            certChain: readPem(config.etcdTlsCertFile, 'etcdTlsCertFile'),
            privateKey: readPem(config.etcdTlsKeyFile, 'etcdTlsKeyFile'),
          }),
    };
  }
  return options;
}

export function createEtcdClient(config: EtcdConfig, callTimeoutMs: number): Etcd3 {
  return new Etcd3(etcdClientOptions(config, callTimeoutMs));
}

/**
 * Settles with `promise`, or rejects after `ms`: for the calls the client gives no deadline
 * (streams such as a lease keepalive), so that no step of the coordination can hang.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
