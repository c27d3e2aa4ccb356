// The registrations and the group's identity as etcd holds them (docs/design.md, "High
// availability"): read together every round, before any campaign, and the identity recorded once,
// by the group's first leader, fenced like any leader-only write.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { InstanceInfo } from './coordination.js';
import {
  identityConflict,
  readIdentity,
  recordedText,
  type GroupIdentity,
  type IdentityRead,
} from './group-identity.js';
import type { GroupKeys } from './keys.js';
import type { LeaderGuard } from './leader-guard.js';
import { viewMembers } from './members.js';

/**
 * Registrations read, at most: a group has a few instances. One read of any number of keys
 * failed past the client's 4 MiB message limit, reported as an etcd outage.
 *
 * The keys are listed first (keys only), then each value is read on its own: a value is at most
 * what etcd takes in one request (1.5 MiB by default), so a few large values put under the prefix
 * by someone with write access no longer make the one answer too large for the client, which
 * stopped every campaign (reviewer round 7, R7-1).
 */
const MEMBERS_READ = 256;

export class EtcdMembership {
  /** The other registered instances, as last read. */
  others: InstanceInfo[] = [];
  /**
   * Set for good once another instance is seen with this instance's --announce, unless the
   * --announce self-check runs (announce-check.ts): then the conflict lasts as long as the other
   * registration, and the check tells whether the address reaches this instance once it is gone
   * (an earlier run of this very instance restarted with another --http: reviewer round 6, F3).
   */
  private refused: string | null = null;
  /** `<group>/identity` as last read: the leader records it when it is missing. */
  private identity: IdentityRead = { kind: 'missing' };

  constructor(
    private readonly client: Etcd3,
    private readonly keys: GroupKeys,
    private readonly self: InstanceInfo,
    private readonly mine: GroupIdentity,
    private readonly log: Logger,
    /** Whether --announce is checked to reach this instance before every campaign. */
    private readonly announceChecked = false,
  ) {}

  /**
   * Reads the registrations and the recorded identity; returns why this instance must not
   * campaign, or null. `lastProblem` keeps a standing conflict from being logged every round.
   */
  async read(selfLease: string, lastProblem: string | null): Promise<string | null> {
    const { client, keys, self } = this;
    const [listed, identityText] = await Promise.all([
      client
        .getAll()
        .prefix(keys.members)
        .limit(MEMBERS_READ + 1)
        .keys(),
      client.get(keys.identity).string(),
    ]);
    if (listed.length > MEMBERS_READ) {
      // Junk under the prefix (reviewer round 6, F4): said as it is, not as an etcd outage.
      const problem = `${keys.members} holds more than ${MEMBERS_READ} keys: no group of rbuddy instances has that many; someone with write access to the prefix put them there; not campaigning until they are removed`;
      if (problem !== lastProblem) this.log.error({ instance: self.id }, problem);
      return problem;
    }
    // A key deleted between the listing and its read is simply not there.
    const read = await Promise.all(listed.map((key) => client.get(key).exec()));
    const entries = read.flatMap((response) =>
      response.kvs.map((kv) => ({
        key: kv.key.toString(),
        value: kv.value.toString(),
        createRevision: Number(kv.create_revision),
        lease: kv.lease,
      })),
    );
    const view = viewMembers(keys.members, entries, self, selfLease);
    this.others = view.others;
    if (view.lasting && this.refused === null && !this.announceChecked) {
      // Kept until restart: leading later, once the other is gone, would point the nodes at an
      // address that does not reach this instance.
      this.refused = `${view.conflict ?? ''}, then restart this one`;
    }
    this.identity = readIdentity(identityText);
    const conflict =
      this.refused ??
      view.conflict ??
      identityConflict({
        mine: this.mine,
        key: keys.identity,
        recorded: this.identity,
        membersPrefix: keys.members,
        entries,
        self,
        selfLease,
      });
    if (conflict !== null && conflict !== lastProblem) {
      this.log.error({ instance: self.id }, `not campaigning: ${conflict}`);
    }
    return conflict;
  }

  /** The group's --etcd-lease-ms as recorded, if it is. */
  groupLeaseMs(): number | undefined {
    return this.identity.kind === 'ok' ? this.identity.recorded.identity.leaseMs : undefined;
  }

  /**
   * Records the group's identity for good where none was read, while `guard` holds: an instance
   * started later with other flags is refused even when no other instance is left to compare
   * with. Not written (recorded meanwhile, or no longer leading): the next round reads and
   * compares.
   */
  async recordIdentity(guard: LeaderGuard): Promise<void> {
    if (this.identity.kind !== 'missing') return;
    const { client, keys, self, mine } = this;
    const result = await client
      .if(guard.leaderKey, 'Create', '==', guard.fence)
      .and(guard.leaderKey, 'Lease', '==', guard.leaseId)
      .and(keys.identity, 'Create', '==', 0)
      .then(client.put(keys.identity).value(recordedText(mine, self)))
      .commit();
    if (!result.succeeded) return;
    this.identity = { kind: 'ok', recorded: { identity: mine, by: self } };
    this.log.info({ key: keys.identity, identity: mine }, "recorded the group's master and nodes");
  }
}
