// The etcd rows of the configuration schema: several rbuddy instances of one group coordinated
// through etcd (docs/design.md, "High availability"). Without --etcd none of them matters and
// rbuddy runs as one process on its --state-dir.

import type { Setting } from './setting.js';
import type { EtcdConfig } from './types.js';

function file(doc: string, env: string, arg: string): Setting<string> {
  return { doc, format: 'file', default: '', env, arg };
}

export const ETCD_SETTINGS: { readonly [K in keyof EtcdConfig]: Setting<EtcdConfig[K]> } = {
  etcd: {
    doc: 'etcd endpoints, comma separated http:// or https:// URLs (scheme, host and port; credentials go in --etcd-user and --etcd-password). Given: this instance is one of several of its --group, which elect a leader through etcd and keep the roles, epoch, failover record and outbox there instead of the state dir. Empty: one process on its --state-dir.',
    format: 'etcd-endpoints',
    default: [],
    env: 'RBUDDY_ETCD',
    arg: 'etcd',
  },
  etcdLeaseMs: {
    doc: "The leader's etcd lease in milliseconds, a whole number of seconds (etcd counts leases in seconds): another instance takes over at most this long (plus a fifth of it, the renewal period) after the leader dies. The leader stops acting when it has not renewed the lease for two thirds of it, before the lease can expire in etcd.",
    format: 'etcd-lease-ms',
    default: 5_000,
    env: 'RBUDDY_ETCD_LEASE_MS',
    arg: 'etcd-lease-ms',
  },
  etcdPrefix: {
    doc: "Where rbuddy's keys live in etcd: the group's state under <prefix>/<group>/.",
    format: 'etcd-prefix',
    default: '/rbuddy',
    env: 'RBUDDY_ETCD_PREFIX',
    arg: 'etcd-prefix',
  },
  etcdUser: {
    doc: 'etcd user (etcd authentication); empty: none. Needs --etcd-password.',
    format: 'text',
    default: '',
    env: 'RBUDDY_ETCD_USER',
    arg: 'etcd-user',
    placeholder: 'USER',
  },
  etcdPassword: {
    doc: "The etcd user's password. Give it in the environment: flags show up in ps.",
    format: 'text',
    default: '',
    env: 'RBUDDY_ETCD_PASSWORD',
    arg: 'etcd-password',
    placeholder: 'PASSWORD',
    sensitive: true,
  },
  etcdTlsCaCertFile: file(
    "The CA (PEM bundle) etcd's certificates must chain to, for https:// endpoints. Empty: the system's CAs.",
    'RBUDDY_ETCD_TLS_CA_CERT_FILE',
    'etcd-tls-ca-cert-file',
  ),
  etcdTlsCertFile: file(
    "rbuddy's client certificate for etcd (etcd's --client-cert-auth), with --etcd-tls-key-file.",
    'RBUDDY_ETCD_TLS_CERT_FILE',
    'etcd-tls-cert-file',
  ),
  etcdTlsKeyFile: file(
    'The private key of --etcd-tls-cert-file (PEM, unencrypted).',
    'RBUDDY_ETCD_TLS_KEY_FILE',
    'etcd-tls-key-file',
  ),
  announceCheck: {
    doc: "With --etcd: before it campaigns, and while it leads, this instance asks its own --announce who answers there, and leads only while it is this very process (a leader's replicas REPLICAOF its --announce). no: not checked, for a network where an instance cannot reach its own --announce although its replicas can (a NAT without hairpin routing); /v1/status says so. A wrong --announce then takes the replicas away from the group's relay.",
    format: 'yes-no',
    default: true,
    env: 'RBUDDY_ANNOUNCE_CHECK',
    arg: 'announce-check',
  },
};
