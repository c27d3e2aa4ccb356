// The group's past leaders (docs/ha.md, "Which replicas are repointed"): the --announce of each
// instance that has led the group, kept in etcd on no lease so that it outlives the instances. A
// replica keeps following a dead leader's address until it is told otherwise, and an instance
// started after that leader died never saw it registered (a registration goes with its lease):
// this list is how it learns that the address was the group's. Each leader adds its own
// --announce when it is elected, before it touches any node, in one transaction fenced by its
// leadership (leader-guard.ts). Bounded: the newest PAST_LEADERS_KEPT, the oldest dropped first.
import type { Etcd3 } from 'etcd3';
import { parseHostPort } from '../config/host-port.js';
import { EtcdUnavailableError } from '../errors.js';
import { guardedTxn, type GuardSource } from './leader-guard.js';
import { addressKey } from './takeover.js';

/** How many past leaders are remembered: far more than a group has instances, yet bounded. */
export const PAST_LEADERS_KEPT = 16;

/** Longer than any `host:port` a --announce can be: a stored entry beyond it is garbage. */
const MAX_ENTRY_LENGTH = 300;

export interface ParsedPastLeaders {
  /** Oldest first, at most PAST_LEADERS_KEPT, each an address once. */
  leaders: string[];
  /** Why (part of) the stored text was not a list of addresses; undefined when it was one. */
  problem: string | undefined;
}

/**
 * The addresses a stored text holds (a JSON array of `host:port`, oldest first); null (no key) is
 * none. Anyone with access to the prefix can write there: entries that are not addresses are
 * dropped and said so, and at most the newest PAST_LEADERS_KEPT are kept.
 */
export function parsePastLeaders(text: string | null): ParsedPastLeaders {
  if (text === null) return { leaders: [], problem: undefined };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { leaders: [], problem: 'it is not valid JSON' };
  }
  if (!Array.isArray(value)) return { leaders: [], problem: 'it is not a JSON array' };
  let leaders: string[] = [];
  let dropped = 0;
  for (const entry of value as unknown[]) {
    const address =
      typeof entry === 'string' && entry.length <= MAX_ENTRY_LENGTH
        ? parseHostPort(entry, 1)
        : undefined;
    if (address?.ok === true) leaders = withLeader(leaders, entry as string, Infinity);
    else dropped += 1;
  }
  leaders = leaders.slice(-PAST_LEADERS_KEPT);
  return {
    leaders,
    problem: dropped === 0 ? undefined : `${dropped} entries are not host:port addresses`,
  };
}

/**
 * `leaders` with `announce` as the newest: an earlier entry for the same address (however it is
 * spelt) is dropped, then the oldest beyond `kept`.
 */
export function withLeader(
  leaders: readonly string[],
  announce: string,
  kept: number = PAST_LEADERS_KEPT,
): string[] {
  const key = addressKey(announce);
  const others = leaders.filter((leader) => addressKey(leader) !== key);
  return [...others, announce].slice(-kept);
}

export interface RecordedLeadership {
  /** The past leaders as they stood before this one was added, oldest first. */
  before: string[];
  /** Why the stored list was (partly) garbage; it was rewritten without the garbage. */
  problem: string | undefined;
}

/** The `past-leaders` key of one group. */
export class EtcdPastLeaders {
  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly source: GuardSource,
  ) {}

  /**
   * Adds `announce` as the newest past leader, fenced: rejects with NotLeaderError (nothing
   * written) when this instance does not lead, with EtcdUnavailableError when etcd did not answer
   * or confirm. Read and write need no compare between them: only the leader writes the key, and
   * a deposed leader's write is refused by the fence.
   */
  async record(announce: string): Promise<RecordedLeadership> {
    let text: string | null;
    try {
      text = await this.client.get(this.key).string();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new EtcdUnavailableError(`cannot read etcd:${this.key}: ${message}`, { cause: error });
    }
    const { leaders, problem } = parsePastLeaders(text);
    const next = JSON.stringify(withLeader(leaders, announce));
    await guardedTxn(this.client, this.source, `record this leader in etcd:${this.key}`, [
      this.client.put(this.key).value(next),
    ]);
    return { before: leaders, problem };
  }
}
