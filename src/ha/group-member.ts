// What the app needs to run as one instance of a group (docs/ha.md): the Coordination --etcd asks
// for, this instance's registration, and the leadership fields of /v1/status.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { formatHostPort, type HostPort, type RbuddyConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { EventOutbox } from '../notify/outbox.js';
import { PROCESS_RUN_ID } from '../run-id.js';
import type { TlsMaterialSource } from '../tls/reloadable-tls.js';
import { checkAddress, type AddressVerdict } from './address-check.js';
import {
  AnnounceCheck,
  AnnounceCheckOff,
  type AnnounceCheckStatus,
  type Transport,
} from './announce-check.js';
import type { Coordination, InstanceInfo } from './coordination.js';
import { createEtcdClient } from './etcd-client.js';
import { EtcdCoordination } from './etcd-coordination.js';
import type { RecentEventsFeed } from './etcd-recent-events.js';
import { identityOf } from './group-identity.js';
import type { LeadershipStatus } from './leadership.js';
import { leaseTiming } from './lease-timing.js';

/**
 * A Coordination, and where the group's webhook outboxes and recent events live (etcd), when it
 * says.
 */
export type GroupMember = Coordination & {
  outboxFactory?: (logger: Logger) => (endpoint: string) => EventOutbox;
  recentEvents?: (logger: Logger) => RecentEventsFeed;
};

/** What an instance is on its RESP port, for the check of its own --announce (announce-check.ts). */
export interface OwnListeners {
  /** Its SENTINEL myid. */
  myid: string;
  /** The TLS listener's material (its certificate, key and CA): the check speaks TLS with it. */
  tls: TlsMaterialSource | undefined;
  /** The listeners' bound addresses; undefined before they listen (or without one). */
  plain: () => HostPort | undefined;
  tlsAddress: () => HostPort | undefined;
}

/** How an app joins its group, given its own registration (and its listeners, to check). */
export type JoinGroup = (self: InstanceInfo, own?: OwnListeners) => GroupMember;

/** The Coordination --etcd asks for, if it does. */
export function etcdGroup(config: RbuddyConfig, logger: Logger): JoinGroup | undefined {
  if (config.etcd.length === 0) return undefined;
  return (self, own) =>
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
      ...(own === undefined
        ? {}
        : {
            announceCheck: config.announceCheck
              ? announceCheck(config, self, own, logger)
              : new AnnounceCheckOff(self.announce, logger),
          }),
    });
}

/**
 * The check of this instance's --announce: asked over each of its listeners, TLS first (the
 * --announce defaults to it), as a replica would speak to it; a TLS one with the listener's own
 * certificate as the client's and its CA to verify the chain (no name: Redis replicas check none).
 */
function announceCheck(
  config: RbuddyConfig,
  self: InstanceInfo,
  own: OwnListeners,
  logger: Logger,
): AnnounceCheck {
  const material = own.tls;
  const ask = (address: string, transport: Transport) =>
    checkAddress(address, {
      expectedId: own.myid,
      expectedRunId: PROCESS_RUN_ID,
      password: config.listenPassword,
      connectTimeoutMs: config.connectTimeoutMs,
      commandTimeoutMs: config.commandTimeoutMs,
      ...(transport === 'tls' && material !== undefined
        ? { tls: { source: material, anyName: true } }
        : {}),
    });
  const listeners = (): Array<{ transport: Transport; address: string }> => {
    const bound: Array<[Transport, HostPort | undefined]> = [
      ['tls', material === undefined ? undefined : own.tlsAddress()],
      ['plain', own.plain()],
    ];
    return bound.flatMap(([transport, address]) =>
      address === undefined ? [] : [{ transport, address: formatHostPort(reachable(address)) }],
    );
  };
  return new AnnounceCheck({
    announce: self.announce,
    ownId: own.myid,
    listeners,
    ask,
    intervalMs: leaseTiming(config.etcdLeaseMs).retryPeriodMs,
    leaseMs: config.etcdLeaseMs,
    logger,
  });
}

/**
 * Who answers at a past leader's address (address-check.ts), asked as a replica would ask it: the
 * group's --announce addresses are TLS ones when this instance's listener is (the --announce
 * defaults to it), so over TLS first, with this listener's own certificate; then plain, for a
 * group whose announces name plain listeners. The address is the group's only on a definite
 * answer: an instance of the group on either, or nothing listening there; else what TLS found.
 */
export function pastLeaderCheck(
  config: Pick<RbuddyConfig, 'listenPassword' | 'connectTimeoutMs' | 'commandTimeoutMs'>,
  own: Pick<OwnListeners, 'tls'> | undefined,
  /** The SENTINEL myid an instance of the group gives at an address (sentinelId). */
  idAt: (address: string) => string,
): (address: string) => Promise<AddressVerdict> {
  const material = own?.tls;
  const ask = (address: string, tls: boolean) =>
    checkAddress(address, {
      expectedId: idAt(address),
      password: config.listenPassword,
      connectTimeoutMs: config.connectTimeoutMs,
      commandTimeoutMs: config.commandTimeoutMs,
      ...(tls && material !== undefined ? { tls: { source: material, anyName: true } } : {}),
    });
  return async (address) => {
    if (material === undefined) return ask(address, false);
    const overTls = await ask(address, true);
    if (overTls.kind === 'instance' || overTls.kind === 'gone') return overTls;
    const plain = await ask(address, false);
    return plain.kind === 'instance' ? plain : overTls;
  };
}

/** A bound address to dial: a wildcard one through the loopback address of its family. */
function reachable(address: HostPort): HostPort {
  if (address.host === '0.0.0.0') return { ...address, host: '127.0.0.1' };
  if (address.host === '::') return { ...address, host: '::1' };
  return address;
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
  /** Whether this instance's --announce reaches it (null: not checked in this run). */
  announceCheck: AnnounceCheckStatus | null;
}

export function groupStatus(ha: LeadershipStatus, leaseMs: number): GroupStatusFields {
  return {
    leader: ha.leader,
    leaderAnnounce: ha.leaderAnnounce,
    lease: { ms: leaseMs, remainingMs: ha.leaseRemainingMs },
    takeovers: ha.takeovers,
    peers: ha.peers,
    announceCheck: ha.announceCheck ?? null,
  };
}
