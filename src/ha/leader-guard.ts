// The fence every leader-only write carries (docs/design.md, "High availability"): a transaction
// that commits only while the leader key is still the one this instance created (its create
// revision, the fencing token) and still held by this instance's lease. A deposed leader's write
// — one that was sent before it knew, and arrives after another instance was elected — finds
// another create revision (or no key) and changes nothing.
import type { Etcd3, IOperation } from 'etcd3';
import { EtcdUnavailableError, NotLeaderError } from '../errors.js';
import type { InstanceInfo } from './coordination.js';

export interface LeaderGuard {
  readonly leaderKey: string;
  /** The leader key's create revision when this instance was elected. */
  readonly fence: number;
  /** This instance's lease (etcd's int64, as a decimal string). */
  readonly leaseId: string;
  /** This instance: who writes under this guard (written-by.ts stamps it on the state). */
  readonly writer: Pick<InstanceInfo, 'id' | 'announce'>;
}

export interface GuardSource {
  /** The guard while this instance leads and may act; undefined otherwise. */
  guard(): LeaderGuard | undefined;
  /** Told when etcd refused a guarded write: another instance leads now. */
  fenceLost(reason: string): void;
}

/**
 * Runs `ops` in one transaction guarded by the leadership. Rejects with NotLeaderError when this
 * instance does not lead, or no longer with its fence (this attempt wrote nothing; when the client
 * had tried the transaction on another member first, unanswered, that one may have landed while
 * this instance still led: etcd-client.ts); with EtcdUnavailableError when etcd did not answer
 * (the write may or may not have happened).
 * `ops` may be built from the guard the transaction compares, so that what is written names the
 * very fence it was written under.
 */
export async function guardedTxn(
  client: Etcd3,
  source: GuardSource,
  what: string,
  ops: IOperation[] | ((guard: LeaderGuard) => IOperation[]),
): Promise<void> {
  const guard = source.guard();
  if (guard === undefined) {
    throw new NotLeaderError(`${what}: this instance does not lead the group (or may not act)`);
  }
  const operations = typeof ops === 'function' ? ops(guard) : ops;
  let succeeded: boolean;
  try {
    const result = await client
      .if(guard.leaderKey, 'Create', '==', guard.fence)
      .and(guard.leaderKey, 'Lease', '==', guard.leaseId)
      .then(...operations)
      .commit();
    succeeded = result.succeeded;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new EtcdUnavailableError(`${what}: etcd did not confirm the write: ${message}`, {
      cause: error,
    });
  }
  if (!succeeded) {
    const reason = `${what}: another instance leads now (the leader key is not ours)`;
    source.fenceLost(reason);
    throw new NotLeaderError(reason);
  }
}
