// Checks between TLS settings that no single format can make: a file given for a hop that is not
// on, a certificate without its key, client certificates required with no CA to check them
// against. Each is a mistake an operator makes while setting TLS up; caught here, it is one line
// naming the setting, instead of a hop that silently runs in clear text.

import { ConfigError } from '../errors.js';
import { TLS_SETTINGS } from './tls-settings.js';
import type { TlsConfig } from './types.js';

type TlsChecked = TlsConfig & { listen: unknown };

function given(value: string): boolean {
  return value.trim() !== '';
}

export function checkTlsSettings(settings: TlsChecked): void {
  const fail = (key: keyof TlsChecked, message: string): never => {
    const flag = key === 'listen' ? '--listen' : `--${TLS_SETTINGS[key].arg}`;
    throw new ConfigError(`invalid setting "${key}" (${flag}): ${message}`, key);
  };
  if (settings.listen === null && settings.tlsListen === null) {
    fail('listen', 'is none, but there is no --tls-listen: rbuddy would have no RESP listener');
  }
  if (settings.tlsListen !== null) {
    if (!given(settings.tlsCertFile)) fail('tlsCertFile', 'is required with --tls-listen');
    if (!given(settings.tlsKeyFile)) fail('tlsKeyFile', 'is required with --tls-listen');
    if (settings.tlsAuthClients !== 'no' && !given(settings.tlsCaCertFile)) {
      fail(
        'tlsCaCertFile',
        `is required with --tls-auth-clients ${settings.tlsAuthClients} (the CA client certificates must chain to); or set --tls-auth-clients no`,
      );
    }
  } else {
    for (const key of ['tlsCertFile', 'tlsKeyFile', 'tlsCaCertFile'] as const) {
      if (given(settings[key])) fail(key, 'is set, but there is no --tls-listen to use it');
    }
  }
  const identities = settings.activeTlsIdentity.length + settings.standbyTlsIdentity.length;
  if (identities > 0 && (settings.tlsListen === null || settings.tlsAuthClients === 'no')) {
    const key = settings.activeTlsIdentity.length > 0 ? 'activeTlsIdentity' : 'standbyTlsIdentity';
    fail(key, 'needs --tls-listen with client certificates (--tls-auth-clients yes or optional)');
  }
  pairOf(settings, 'master', settings.masterTls, fail);
  pairOf(settings, 'replica', settings.replicaTls, fail);
  if (!settings.masterTls && given(settings.masterTlsServername)) {
    fail('masterTlsServername', 'is set, but --master-tls is not');
  }
  if (given(settings.httpTlsCertFile) !== given(settings.httpTlsKeyFile)) {
    const missing = given(settings.httpTlsCertFile) ? 'httpTlsKeyFile' : 'httpTlsCertFile';
    fail(missing, 'is required: HTTPS needs both --http-tls-cert-file and --http-tls-key-file');
  }
}

/** A client hop's files: only with the hop on, and a certificate only with its key. */
function pairOf(
  settings: TlsChecked,
  hop: 'master' | 'replica',
  on: boolean,
  fail: (key: keyof TlsChecked, message: string) => never,
): void {
  const ca = `${hop}TlsCaCertFile` as const;
  const cert = `${hop}TlsCertFile` as const;
  const key = `${hop}TlsKeyFile` as const;
  if (!on) {
    for (const name of [ca, cert, key]) {
      if (given(settings[name])) fail(name, `is set, but --${hop}-tls is not`);
    }
    return;
  }
  if (given(settings[cert]) !== given(settings[key])) {
    fail(
      given(settings[cert]) ? key : cert,
      `is required: a client certificate needs both --${hop}-tls-cert-file and --${hop}-tls-key-file`,
    );
  }
}
