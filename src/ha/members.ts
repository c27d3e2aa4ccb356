// The group's registrations (`<prefix>/<group>/members/<id>`) read back: which other instances
// exist (SENTINEL sentinels), and whether another live instance already claimed this instance's
// --announce or id. Anyone with access to the prefix can write there, so only a key directly under
// `members/` whose value is an InstanceInfo of the same id counts.
import type { InstanceInfo } from './coordination.js';
import { parseInstance } from './instance-info.js';

/** One key under the members prefix as etcd returns it. */
export interface MemberEntry {
  key: string;
  value: string;
  /** The key's create revision: which of two registrations came first. */
  createRevision: number;
  /** The lease the key is attached to ('0': none). */
  lease: string;
}

/** The InstanceInfo registered at `key`, or null unless it is `members/<id>` holding that id. */
export function memberAt(membersPrefix: string, key: string, value: string): InstanceInfo | null {
  if (!key.startsWith(membersPrefix)) return null;
  const id = key.slice(membersPrefix.length);
  if (id === '' || id.includes('/')) return null;
  const info = parseInstance(value);
  return info !== null && info.id === id ? info : null;
}

export interface MemberView {
  /** The other instances, by id; never one with this instance's --announce. */
  others: InstanceInfo[];
  /**
   * Set when a registration made before ours (or one under our id on another lease) claims our
   * --announce or id: the reason this instance must not campaign.
   */
  conflict: string | null;
  /**
   * The conflict is with an instance that has another admin address: not an earlier run of this
   * one (a restart after kill -9, whose registration expires with its lease) but a second
   * instance given our --announce. Its going away does not make our --announce reach us.
   */
  lasting: boolean;
}

/**
 * Sorts the registrations into the others and a conflict. Of two instances with one --announce,
 * the one registered first keeps it: the newcomer stands back until the older registration is
 * gone (its lease expires when that instance dies, so a restart of the same instance after a
 * kill -9 waits one lease at most).
 */
export function viewMembers(
  membersPrefix: string,
  entries: readonly MemberEntry[],
  self: InstanceInfo,
  selfLease: string | undefined,
): MemberView {
  const own = entries.find((entry) => entry.key === membersPrefix + self.id);
  const ownRevision = own !== undefined && own.lease === selfLease ? own.createRevision : Infinity;
  const others: InstanceInfo[] = [];
  let conflict: string | null = null;
  let lasting = false;
  for (const entry of entries) {
    const info = memberAt(membersPrefix, entry.key, entry.value);
    // An instance registers on its lease: a key on none (put by hand) is no instance, and would
    // be listed in SENTINEL sentinels forever (clients would ask it where the master is).
    if (info === null || entry.lease === '0' || entry.lease === '') continue;
    if (info.id === self.id) {
      if (selfLease !== undefined && entry.lease !== selfLease) {
        conflict = `another live instance registered this instance's id ${self.id}`;
      }
      continue;
    }
    if (info.announce === self.announce) {
      if (entry.createRevision < ownRevision) {
        conflict =
          `another instance of the group (id ${info.id}, http ${info.http}) already registered ` +
          `this --announce ${self.announce}: give each instance its own --announce (an earlier ` +
          `run of this instance, with another --http, goes when its lease expires)`;
        lasting ||= info.http !== self.http;
      }
      continue;
    }
    others.push(info);
  }
  others.sort((a, b) => a.id.localeCompare(b.id));
  return { others, conflict, lasting };
}
