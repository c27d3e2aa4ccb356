// EtcdCoordination instances in the test process, on a real 3-member etcd cluster (for the HA
// functional tests that drive the coordination directly rather than through the CLI): the
// cluster, a direct client to read and write etcd behind the instances' backs, and every instance
// closed at the end.
import { after, before } from 'node:test';
import { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { createEtcdClient } from '../../src/ha/etcd-client.js';
import { EtcdCoordination } from '../../src/ha/etcd-coordination.js';
import type { GroupIdentity } from '../../src/ha/group-identity.js';
import { silent } from './engine-harness.js';

/** What every instance manages unless a test gives it another master or nodes. */
export const TEST_IDENTITY: GroupIdentity = {
  master: '127.0.0.1:6379',
  nodes: ['127.0.0.1:6380', '127.0.0.1:6381'],
};

/** An etcd client as the CLI builds it (no TLS, no credentials), prefix /test. */
export function testEtcdClient(hosts: readonly string[], leaseMs: number): Etcd3 {
  return createEtcdClient(
    {
      etcd: [...hosts],
      etcdLeaseMs: leaseMs,
      etcdPrefix: '/test',
      etcdUser: '',
      etcdPassword: '',
      etcdTlsCaCertFile: '',
      etcdTlsCertFile: '',
      etcdTlsKeyFile: '',
      announceCheck: true,
    },
    leaseMs / 5,
  );
}

export interface InstanceOptions {
  /** Its own client (default: one on every member, testEtcdClient). */
  client?: Etcd3;
  leaseMs?: number;
  announce?: string;
  http?: string;
  identity?: GroupIdentity;
  logger?: Logger;
}

export class CoordinationRig {
  cluster!: EtcdCluster;
  /** A plain client of the cluster's, for the test's own reads and writes. */
  direct!: Etcd3;
  readonly instances: EtcdCoordination[] = [];

  constructor(private readonly leaseMs: number) {}

  /** Starts the cluster before the enclosing describe's tests, closes it all after them. */
  hooks(): void {
    before(async () => {
      this.cluster = await startEtcdCluster();
      this.direct = new Etcd3({ hosts: [...this.cluster.clientUrls] });
    });
    after(async () => {
      await Promise.allSettled(this.instances.map((c) => c.close()));
      this.direct.close();
      await this.cluster.close();
    });
  }

  /** An instance of `group` under /test (not started), closed with the rig. */
  instance(group: string, id: string, options: InstanceOptions = {}): EtcdCoordination {
    const leaseMs = options.leaseMs ?? this.leaseMs;
    const coordination = new EtcdCoordination({
      client: options.client ?? testEtcdClient(this.cluster.clientUrls, leaseMs),
      ownsClient: true,
      self: { id, announce: options.announce ?? `${id}:6382`, http: options.http ?? `${id}:9999` },
      identity: options.identity ?? TEST_IDENTITY,
      prefix: '/test',
      group,
      leaseMs,
      logger: options.logger ?? silent,
    });
    this.instances.push(coordination);
    return coordination;
  }
}
