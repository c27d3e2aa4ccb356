// What the app needs to run as one instance of a group (docs/ha.md): the Coordination --etcd asks
// for, this instance's registration, and the leadership fields of /v1/status.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { formatHostPort, type RbuddyConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { EventOutbox } from '../notify/outbox.js';
import type { Coordination, InstanceInfo } from './coordination.js';
import { createEtcdClient } from './etcd-client.js';
import { EtcdCoordination } from './etcd-coordination.js';
import type { RecentEventsFeed } from './etcd-recent-events.js';
import { identityOf } from './group-identity.js';
import type { LeadershipStatus } from './leadership.js';

/**
 * A Coordination, and where the group's webhook outboxes and recent events live (etcd), when it
 * says.
 */
export type GroupMember = Coordination & {
  outboxFactory?: (logger: Logger) => (endpoint: string) => EventOutbox;
  recentEvents?: (logger: Logger) => RecentEventsFeed;
};

/** How an app joins its group, given its own registration. */
export type JoinGroup = (self: InstanceInfo) => GroupMember;

/** The Coordination --etcd asks for, if it does. */
export function etcdGroup(config: RbuddyConfig, logger: Logger): JoinGroup | undefined {
  if (config.etcd.length === 0) return undefined;
  return (self) =>
    new EtcdCoordination({
      // A call may take a fifth of the lease: a renewal retried within the renew deadline.
      client: createEtcdClient(config, Math.max(200, Math.floor(config.etcdLeaseMs / 5))),
      ownsClient: true,
      self,
      identity: identityOf(config),
      prefix: config.etcdPrefix,
      group: config.group,
      leaseMs: config.etcdLeaseMs,
      logger,
    });
}

/**
 * This instance as the group sees it: its --announce (where replicas reach it, and its Sentinel
 * address; it must be a fixed port, the others and the replicas dial it) and its admin API.
 */
export function instanceOf(config: RbuddyConfig): InstanceInfo {
  if (config.announce.port === 0) {
    throw new ConfigError(
      "--etcd needs a fixed --announce port (or --listen port): it is each instance's address in the group",
      'announce',
    );
  }
  return {
    id: randomUUID(),
    announce: formatHostPort(config.announce),
    http: formatHostPort(config.http),
  };
}

/** The leadership fields of /v1/status (their names are a contract: docs/ha.md). */
export interface GroupStatusFields {
  /** This instance leads its group. */
  leader: boolean;
  /** The leader's --announce (`host:port`), null while nobody leads. */
  leaderAnnounce: string | null;
  /** The leader's lease, and its time left as this instance last renewed it (null: not leading). */
  lease: { ms: number; remainingMs: number | null };
  /** Times this instance became the leader. */
  takeovers: number;
  /** The group's other instances (`SENTINEL sentinels`). */
  peers: InstanceInfo[];
}

export function groupStatus(ha: LeadershipStatus, leaseMs: number): GroupStatusFields {
  return {
    leader: ha.leader,
    leaderAnnounce: ha.leaderAnnounce,
    lease: { ms: leaseMs, remainingMs: ha.leaseRemainingMs },
    takeovers: ha.takeovers,
    peers: ha.peers,
  };
}
