// Checks between the etcd settings that no single format can make: options given without
// --etcd, TLS files with http:// endpoints, a certificate without its key, a user without a
// password. Each would otherwise be silently ignored, or fail later with a less useful message.

import { ConfigError } from '../errors.js';
import { ETCD_SETTINGS } from './etcd-settings.js';
import type { EtcdConfig } from './types.js';

function given(value: string): boolean {
  return value.trim() !== '';
}

export function checkEtcdSettings(settings: EtcdConfig): void {
  const fail = (key: keyof EtcdConfig, message: string): never => {
    throw new ConfigError(
      `invalid setting "${key}" (--${ETCD_SETTINGS[key].arg}): ${message}`,
      key,
    );
  };
  const optional = [
    'etcdUser',
    'etcdPassword',
    'etcdTlsCaCertFile',
    'etcdTlsCertFile',
    'etcdTlsKeyFile',
  ] as const;
  if (settings.etcd.length === 0) {
    for (const key of optional) {
      if (given(settings[key])) fail(key, 'is set, but there is no --etcd to use it');
    }
    if (!settings.announceCheck) {
      fail('announceCheck', 'is no, but there is no --etcd: only a group checks its --announce');
    }
    return;
  }
  const secure = settings.etcd.map((url) => url.startsWith('https:'));
  if (secure.includes(true) && secure.includes(false)) {
    fail('etcd', 'mixes http:// and https:// endpoints: use one scheme for all of them');
  }
  if (!secure.includes(true)) {
    for (const key of ['etcdTlsCaCertFile', 'etcdTlsCertFile', 'etcdTlsKeyFile'] as const) {
      if (given(settings[key])) fail(key, 'is set, but the --etcd endpoints are http://');
    }
  }
  if (given(settings.etcdTlsCertFile) !== given(settings.etcdTlsKeyFile)) {
    fail(
      given(settings.etcdTlsCertFile) ? 'etcdTlsKeyFile' : 'etcdTlsCertFile',
      'is required: a client certificate needs both --etcd-tls-cert-file and --etcd-tls-key-file',
    );
  }
  if (given(settings.etcdUser) !== given(settings.etcdPassword)) {
    fail(
      given(settings.etcdUser) ? 'etcdPassword' : 'etcdUser',
      'is required: etcd authentication needs both --etcd-user and --etcd-password',
    );
  }
}
