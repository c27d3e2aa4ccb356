// What the instances of one group must agree on (docs/ha.md, "What the instances must share";
// docs/design.md, "High availability"): the master whose stream they relay and the two nodes they
// manage. An instance given another --master would repoint the group's active at a master with
// another dataset (a PSYNC answered +FULLRESYNC, a failover to the foreign data, the real copy
// flushed); one given another node would take over a node another group serves. The identity is
// what each instance registers beside its address, and what the first leader records for good
// under `<group>/identity`, so that an instance started after all the others died is checked
// too. An instance whose identity is not the group's never campaigns and says which flag differs
// and who holds the other value. The values are compared as spelled (host case and IPv6 brackets
// aside): one node named by a hostname here and by its IP there is an operator error to report,
// never a guess. Only addresses: no secret is part of the identity.
import { formatHostPort, type HostPort } from '../config/types.js';
import { isObject } from '../is-object.js';
import type { InstanceInfo } from './coordination.js';
import { instanceFrom } from './instance-info.js';
import { memberAt, type MemberEntry } from './members.js';
import { addressKey } from './takeover.js';

export interface GroupIdentity {
  /** --master, `host:port`. */
  master: string;
  /** --active and --standby in one order (roles come from the group's state, not the flags). */
  nodes: [string, string];
  /**
   * --etcd-lease-ms: how long a follower trusts its view, and how long the leader waits after a
   * switch before it flushes the outgoing active; absent in a record of an older version.
   */
  leaseMs?: number;
}

/** The identity of an instance configured with these flags. */
export function identityOf(config: {
  master: HostPort;
  active: HostPort;
  standby: HostPort;
  etcdLeaseMs: number;
}): GroupIdentity {
  const nodes = [formatHostPort(config.active), formatHostPort(config.standby)].sort((a, b) =>
    addressKey(a).localeCompare(addressKey(b)),
  );
  return {
    master: formatHostPort(config.master),
    nodes: [nodes[0] ?? '', nodes[1] ?? ''],
    leaseMs: config.etcdLeaseMs,
  };
}

/** The GroupIdentity a stored value holds, or null. */
export function parseIdentity(value: unknown): GroupIdentity | null {
  if (!isObject(value)) return null;
  const { master, nodes } = value;
  if (typeof master !== 'string' || master === '' || !Array.isArray(nodes)) return null;
  const [first, second] = nodes as unknown[];
  if (nodes.length !== 2 || typeof first !== 'string' || typeof second !== 'string') return null;
  const { leaseMs } = value;
  const lease = Number.isSafeInteger(leaseMs) && Number(leaseMs) > 0 ? Number(leaseMs) : undefined;
  return { master, nodes: [first, second], ...(lease === undefined ? {} : { leaseMs: lease }) };
}

/** The flag that differs between two identities and both values, or null when they agree. */
export function identityDifference(mine: GroupIdentity, theirs: GroupIdentity): string | null {
  if (addressKey(mine.master) !== addressKey(theirs.master)) {
    return `--master differs: this instance has ${mine.master}, the group's is ${theirs.master}`;
  }
  const set = (identity: GroupIdentity): string =>
    identity.nodes
      .map(addressKey)
      .sort((a, b) => a.localeCompare(b))
      .join(' ');
  if (set(mine) !== set(theirs)) {
    return `--active/--standby differ: this instance has ${mine.nodes.join(' and ')}, the group's are ${theirs.nodes.join(' and ')}`;
  }
  // A follower with a longer lease than the leader's would name the active the leader flushed.
  if (
    mine.leaseMs !== undefined &&
    theirs.leaseMs !== undefined &&
    mine.leaseMs !== theirs.leaseMs
  ) {
    return `--etcd-lease-ms differs: this instance has ${mine.leaseMs}, the group's is ${theirs.leaseMs}`;
  }
  return null;
}

/** `<group>/identity` as stored: the identity, and the instance that recorded it. */
export interface RecordedIdentity {
  identity: GroupIdentity;
  by: InstanceInfo;
}

export function recordedText(identity: GroupIdentity, by: InstanceInfo): string {
  return JSON.stringify({ ...identity, recordedBy: by });
}

/** What `<group>/identity` holds: nothing yet, a record, or something unreadable. */
export type IdentityRead =
  { kind: 'missing' } | { kind: 'ok'; recorded: RecordedIdentity } | { kind: 'garbage' };

export function readIdentity(text: string | null): IdentityRead {
  if (text === null) return { kind: 'missing' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'garbage' };
  }
  const identity = parseIdentity(value);
  const by = isObject(value) ? instanceFrom(value.recordedBy) : null;
  return identity === null || by === null
    ? { kind: 'garbage' }
    : { kind: 'ok', recorded: { identity, by } };
}

/** A registration's text: the instance, with its identity beside it. */
export function registrationText(self: InstanceInfo, identity: GroupIdentity): string {
  return JSON.stringify({ ...self, identity });
}

const RULE =
  'every instance of a group must be given the same --master and the same two nodes, spelled alike, and the same --etcd-lease-ms (docs/ha.md)';

function who(info: InstanceInfo): string {
  return `instance ${info.id} (announce ${info.announce}, http ${info.http})`;
}

export interface IdentityCheck {
  /** This instance's identity. */
  mine: GroupIdentity;
  /** `<group>/identity`: its key (for the messages) and what it holds. */
  key: string;
  recorded: IdentityRead;
  /** The registrations under `members/`, as viewMembers takes them. */
  membersPrefix: string;
  entries: readonly MemberEntry[];
  self: InstanceInfo;
  selfLease: string | undefined;
}

/**
 * Why this instance must not campaign, its identity not being the group's; null when it is.
 * The group's identity is the one recorded under `<group>/identity` by its first leader. Before
 * any was recorded, it is the one of the earliest registration still live, as for --announce:
 * of two instances that disagree, the one registered second stands back.
 */
export function identityConflict(check: IdentityCheck): string | null {
  const { mine, recorded } = check;
  if (recorded.kind === 'garbage') {
    return `${check.key} does not hold a group identity (a master and two nodes): fix or delete it`;
  }
  if (recorded.kind === 'ok') {
    const differs = identityDifference(mine, recorded.recorded.identity);
    if (differs === null) return null;
    if (recorded.recorded.by.id === check.self.id) {
      // An instance's id is drawn at its start and it records its own flags: a record under its
      // id that differs from them was changed after it wrote it, not given by an operator's flag.
      return `${check.key} was changed since this instance recorded it (${differs}): it names this very instance as its recorder, which records its own flags; restore it or, with every instance stopped, delete it (the next leader records it again)`;
    }
    return `${differs} (recorded in ${check.key} by ${who(recorded.recorded.by)}): ${RULE}`;
  }
  const own = check.entries.find((entry) => entry.key === check.membersPrefix + check.self.id);
  const ownRevision =
    own !== undefined && own.lease === check.selfLease ? own.createRevision : Infinity;
  const earlier = [...check.entries]
    .filter((entry) => entry.createRevision < ownRevision)
    .sort((a, b) => a.createRevision - b.createRevision);
  for (const entry of earlier) {
    const info = memberAt(check.membersPrefix, entry.key, entry.value);
    if (info === null || info.id === check.self.id) continue;
    let value: unknown;
    try {
      value = JSON.parse(entry.value);
    } catch {
      continue;
    }
    // A registration without an identity (an instance of an older version) says nothing.
    const theirs = isObject(value) ? parseIdentity(value.identity) : null;
    if (theirs === null) continue;
    const differs = identityDifference(mine, theirs);
    if (differs === null) continue;
    return `${differs} (that of ${who(info)}, registered before this one): ${RULE}`;
  }
  return null;
}
