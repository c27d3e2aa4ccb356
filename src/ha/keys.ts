// Where a group's keys live in etcd (docs/design.md, "High availability"): everything under
// `<prefix>/<group>/`, so that one etcd serves many groups and a prefix can be given its own
// etcd role (read/write on that range only).

/** The keys of one group. */
export interface GroupKeys {
  /** `<prefix>/<group>/`: every key of the group starts with it. */
  readonly root: string;
  /** The leader's registration; its create revision is the fencing token. */
  readonly leader: string;
  /** The leader's live report (leader-report.ts), on its lease. */
  readonly leaderStatus: string;
  /** Prefix of the instances' registrations (`members/<id>`). */
  readonly members: string;
  member(id: string): string;
  /** The PersistedState (JSON), as state.json holds it on disk. */
  readonly state: string;
  /** The --announce of the instances that have led the group (past-leaders.ts): on no lease. */
  readonly pastLeaders: string;
  /** The group's master and nodes, recorded by its first leader (group-identity.ts). */
  readonly identity: string;
  /** Prefix of one endpoint's outbox (`outbox/<endpoint>/`). */
  outbox(endpoint: string): string;
  /** One outbox entry: its sequence zero-padded so that key order is delivery order. */
  outboxEntry(endpoint: string, seq: number): string;
  /** Prefix of the group's recent events (`events/<seq>`), which every instance tells its subscribers. */
  readonly events: string;
}

/** Outbox sequence numbers are padded to this width, as the file outbox names its files. */
const SEQ_WIDTH = 16;

export function groupKeys(prefix: string, group: string): GroupKeys {
  const root = `${prefix}/${group}/`;
  return {
    root,
    leader: `${root}leader`,
    leaderStatus: `${root}leader-status`,
    members: `${root}members/`,
    member: (id) => `${root}members/${id}`,
    state: `${root}state`,
    pastLeaders: `${root}past-leaders`,
    identity: `${root}identity`,
    outbox: (endpoint) => `${root}outbox/${endpoint}/`,
    outboxEntry: (endpoint, seq) =>
      `${root}outbox/${endpoint}/${String(seq).padStart(SEQ_WIDTH, '0')}`,
    events: `${root}events/`,
  };
}

/** A sequence number as the end of a key under `prefix`: zero-padded, key order is its order. */
export function seqKey(prefix: string, seq: number): string {
  return `${prefix}${String(seq).padStart(SEQ_WIDTH, '0')}`;
}

/**
 * The highest sequence number taken as one. The next ones are counted from the highest found, in
 * floating point: far below 2^53 (exact) and 16 digits (the key width), so that a key put with a
 * huge number (`…/9999999999999999`: 1e16 + 1 is 1e16, 17 digits, a key no reader accepts) can
 * never make the next entries unreadable. A key beyond it is not an entry.
 */
export const MAX_SEQ = 2 ** 50;

/**
 * The sequence number at the end of a key under a sequenced prefix (an outbox, the recent
 * events), or undefined for another key.
 */
export function outboxSeq(outboxPrefix: string, key: string): number | undefined {
  if (!key.startsWith(outboxPrefix)) return undefined;
  const rest = key.slice(outboxPrefix.length);
  if (!/^\d{16}$/.test(rest)) return undefined;
  const seq = Number(rest);
  return seq <= MAX_SEQ ? seq : undefined;
}
