// The TLS part's hops: one throwaway CA per run (harness/tls-certs.ts) and one certificate for
// 127.0.0.1 / localhost, server and client usage, which every party presents (the master, the
// replica on its replication link, rbuddy on both sides, HAProxy on both sides) and every party
// verifies against the CA (client certificates required everywhere, as Redis's default
// `tls-auth-clients yes`). The master keeps its plain port for the bench's own clients
// (populating, ROLE, WAIT): only the replication link under measurement runs over TLS.
import { freePort } from '../harness/processes.js';
import type { RedisArgs } from '../harness/redis-server.js';
import { createTestPki, type TestPki } from '../harness/tls-certs.js';

export interface BenchTls {
  /** The master's `tls-port`: where replicas, rbuddy and HAProxy connect for replication. */
  masterTlsPort: number;
  /** The CA certificate everyone verifies against. */
  ca: string;
  /** The certificate and key everyone presents. */
  cert: string;
  key: string;
}

export interface BenchPki {
  tls: BenchTls;
  remove(): Promise<void>;
}

export async function createBenchPki(): Promise<BenchPki> {
  const pki: TestPki = await createTestPki();
  try {
    const { cert, key } = await pki.ca.issue('bench', {
      cn: 'localhost',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    });
    const tls = { masterTlsPort: await freePort(), ca: pki.ca.cert, cert, key };
    return { tls, remove: () => pki.remove() };
  } catch (error) {
    await pki.remove();
    throw error;
  }
}

function tlsFiles(tls: BenchTls): RedisArgs {
  return { 'tls-cert-file': tls.cert, 'tls-key-file': tls.key, 'tls-ca-cert-file': tls.ca };
}

/** The master's TLS directives: a TLS port beside the plain one. */
export function masterTlsArgs(tls: BenchTls): RedisArgs {
  return { ...tlsFiles(tls), 'tls-port': tls.masterTlsPort, 'tls-auth-clients': 'yes' };
}

/** The replica's: its replication link over TLS, presenting the certificate. */
export function replicaTlsArgs(tls: BenchTls): RedisArgs {
  return { ...tlsFiles(tls), 'tls-replication': 'yes' };
}

/** rbuddy's TLS flags: a TLS-only listener requiring client certificates, the master over TLS. */
export function proxyTlsArgs(tls: BenchTls): string[] {
  return [
    '--listen',
    'none',
    '--tls-listen',
    '127.0.0.1:0',
    '--tls-cert-file',
    tls.cert,
    '--tls-key-file',
    tls.key,
    '--tls-ca-cert-file',
    tls.ca,
    '--master-tls',
    'yes',
    '--master-tls-ca-cert-file',
    tls.ca,
    '--master-tls-cert-file',
    tls.cert,
    '--master-tls-key-file',
    tls.key,
  ];
}
