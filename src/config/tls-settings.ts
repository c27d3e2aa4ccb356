// The TLS rows of the configuration schema: one set per hop (the RESP listener, the link to the
// master, the control connections to the replicas, the admin API), named after Redis's own
// settings (tls-port, tls-cert-file, tls-auth-clients…) with each hop's prefix.

import type { Setting } from './setting.js';
import type { TlsConfig } from './types.js';

function file(doc: string, env: string, arg: string): Setting<string> {
  return { doc, format: 'file', default: '', env, arg };
}

export const TLS_SETTINGS: { readonly [K in keyof TlsConfig]: Setting<TlsConfig[K]> } = {
  tlsListen: {
    doc: 'A TLS RESP listener (replication, discovery, pub/sub), beside --listen or, with --listen none, instead of it. Replicas with tls-replication yes REPLICAOF it; --announce defaults to it. Needs --tls-cert-file and --tls-key-file.',
    format: 'bind-address',
    default: null,
    nullable: true,
    env: 'RBUDDY_TLS_LISTEN',
    arg: 'tls-listen',
  },
  tlsCertFile: file(
    "The TLS listener's certificate (PEM; a chain is fine). Reloaded on SIGHUP and when the file changes.",
    'RBUDDY_TLS_CERT_FILE',
    'tls-cert-file',
  ),
  tlsKeyFile: file(
    "The TLS listener's private key (PEM, unencrypted). Reloaded with the certificate.",
    'RBUDDY_TLS_KEY_FILE',
    'tls-key-file',
  ),
  tlsCaCertFile: file(
    'The CA (PEM bundle) that client certificates on the TLS listener must chain to. Required unless --tls-auth-clients no.',
    'RBUDDY_TLS_CA_CERT_FILE',
    'tls-ca-cert-file',
  ),
  tlsAuthClients: {
    doc: "As Redis's tls-auth-clients: yes, every client of the TLS listener must present a certificate from --tls-ca-cert-file; optional, one it presents must be valid; no, none is asked for. With certificates, a replica's certificate is part of its identity (--active-tls-identity).",
    format: 'tls-auth-clients',
    default: 'yes',
    env: 'RBUDDY_TLS_AUTH_CLIENTS',
    arg: 'tls-auth-clients',
  },
  activeTlsIdentity: {
    doc: "Which client certificates are the --active replica's, comma separated cn:NAME, dns:NAME (a leftmost *. wildcard allowed), ip:ADDRESS[/BITS] or uri:URI. Empty: its --active host as a DNS or IP subjectAltName. A replica that presents a certificate on the TLS listener syncs only if it matches.",
    format: 'tls-identity',
    default: [],
    env: 'RBUDDY_ACTIVE_TLS_IDENTITY',
    arg: 'active-tls-identity',
  },
  standbyTlsIdentity: {
    doc: "Which client certificates are the --standby replica's (as --active-tls-identity). Empty: its --standby host as a DNS or IP subjectAltName.",
    format: 'tls-identity',
    default: [],
    env: 'RBUDDY_STANDBY_TLS_IDENTITY',
    arg: 'standby-tls-identity',
  },
  masterTls: {
    doc: 'Connect to the master over TLS: every replication session and the health probe. The master must present a certificate for --master-tls-servername (default: the --master host) from --master-tls-ca-cert-file (default: the system CAs).',
    format: 'yes-no',
    default: false,
    env: 'RBUDDY_MASTER_TLS',
    arg: 'master-tls',
  },
  masterTlsCaCertFile: file(
    "The CA (PEM bundle) the master's certificate must chain to. Empty: the system's CAs.",
    'RBUDDY_MASTER_TLS_CA_CERT_FILE',
    'master-tls-ca-cert-file',
  ),
  masterTlsCertFile: file(
    "rbuddy's client certificate for the master (masters with tls-auth-clients yes), with --master-tls-key-file.",
    'RBUDDY_MASTER_TLS_CERT_FILE',
    'master-tls-cert-file',
  ),
  masterTlsKeyFile: file(
    'The private key of --master-tls-cert-file (PEM, unencrypted).',
    'RBUDDY_MASTER_TLS_KEY_FILE',
    'master-tls-key-file',
  ),
  masterTlsServername: {
    doc: "The name the master's certificate must carry (and, for a DNS name, the SNI sent). Empty: the --master host.",
    format: 'text',
    default: '',
    env: 'RBUDDY_MASTER_TLS_SERVERNAME',
    arg: 'master-tls-servername',
    placeholder: 'NAME',
  },
  replicaTls: {
    doc: "rbuddy's control connections to the replicas over TLS (then --active and --standby name the replicas' tls-port, which is also what they announce as their listening port). Certificates are verified against --replica-tls-ca-cert-file (default: the system CAs) and the replica's host.",
    format: 'yes-no',
    default: false,
    env: 'RBUDDY_REPLICA_TLS',
    arg: 'replica-tls',
  },
  replicaTlsCaCertFile: file(
    "The CA (PEM bundle) the replicas' certificates must chain to; also used for rediss:// --publish targets. Empty: the system's CAs.",
    'RBUDDY_REPLICA_TLS_CA_CERT_FILE',
    'replica-tls-ca-cert-file',
  ),
  replicaTlsCertFile: file(
    "rbuddy's client certificate for the replicas (tls-auth-clients yes), with --replica-tls-key-file.",
    'RBUDDY_REPLICA_TLS_CERT_FILE',
    'replica-tls-cert-file',
  ),
  replicaTlsKeyFile: file(
    'The private key of --replica-tls-cert-file (PEM, unencrypted).',
    'RBUDDY_REPLICA_TLS_KEY_FILE',
    'replica-tls-key-file',
  ),
  httpTlsCertFile: file(
    'Serve the admin API over HTTPS with this certificate (PEM), with --http-tls-key-file. Reloaded on SIGHUP and when the file changes.',
    'RBUDDY_HTTP_TLS_CERT_FILE',
    'http-tls-cert-file',
  ),
  httpTlsKeyFile: file(
    'The private key of --http-tls-cert-file (PEM, unencrypted).',
    'RBUDDY_HTTP_TLS_KEY_FILE',
    'http-tls-key-file',
  ),
};
