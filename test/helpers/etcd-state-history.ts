// "At no time do two instances act", checked from etcd's own history (docs/ha.md, "What the tests
// prove"): every version of the group's `state` key (roles, every failover step, the flush record)
// is read back at its revision, with its writer's stamp (src/ha/written-by.ts), and with who held
// the `leader` key at that same revision, as etcd's MVCC store kept it. A write is made under its
// leader when the stamp names the instance whose registration the leader key held and the fence
// (the key's create revision) it was elected with. etcd keeps every revision until it is compacted
// (the test clusters never are), so the walk sees every write.
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import type { EtcdCluster } from '../../harness/etcd-cluster.js';
import { parseInstance } from '../../src/ha/instance-info.js';
import { isObject } from '../../src/is-object.js';
import type { GroupKeys } from '../../src/ha/keys.js';
import { writtenByOf, type WrittenBy } from '../../src/ha/written-by.js';

/** Every call to etcd ends within this. */
const CALL_MS = 5_000;

export interface StateWrite {
  /** The revision the write made (the version's mod revision). */
  revision: number;
  /** The writer's stamp, null when the version has none (or an unreadable one). */
  writtenBy: WrittenBy | null;
  /** Who held the leader key at that revision (its registration and create revision), or null. */
  leader: WrittenBy | null;
  /** What was written: the epoch, the active, the failover's step (null: none in progress). */
  epoch: number | null;
  active: string | null;
  step: string | null;
  /** The steps of the failover in progress or, when none is, of the last one. */
  timeline: string[];
}

/**
 * Why writes were not made under their leader: one line per write whose writer is unknown, or who
 * wrote while nobody led, or while another instance led, or under a fence its leadership no longer
 * had (a deposed leader's late write). Empty when every write was made under its leader.
 */
export function writerViolations(writes: readonly StateWrite[]): string[] {
  const violations: string[] = [];
  const who = (w: WrittenBy): string => `${w.id} (${w.announce}, fence ${w.fence})`;
  for (const write of writes) {
    const at = `revision ${write.revision}`;
    const by = write.writtenBy;
    if (by === null) {
      violations.push(`${at}: the state was written without its writer's stamp`);
    } else if (write.leader === null) {
      violations.push(`${at}: written by ${who(by)} while nobody held the leader key`);
    } else if (write.leader.id !== by.id || write.leader.fence !== by.fence) {
      violations.push(`${at}: written by ${who(by)} while ${who(write.leader)} led`);
    }
  }
  return violations;
}

function textOf(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The stored value (null when it is not JSON). */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What one stored version says (the fields a test asserts on). */
function summary(value: unknown): Pick<StateWrite, 'epoch' | 'active' | 'step' | 'timeline'> {
  const state = isObject(value) ? value : {};
  const failover = isObject(state.failover) ? state.failover : undefined;
  const record = failover ?? (isObject(state.lastFailover) ? state.lastFailover : undefined);
  const timeline = Array.isArray(record?.timeline) ? (record.timeline as unknown[]) : [];
  return {
    epoch: typeof state.epoch === 'number' ? state.epoch : null,
    active: textOf(state.active),
    step: textOf(failover?.step),
    timeline: timeline.map((entry) => (isObject(entry) ? String(entry.step) : '')),
  };
}

/** Who held the leader key at `revision`. */
async function leaderAt(
  client: Etcd3,
  keys: GroupKeys,
  revision: number,
): Promise<WrittenBy | null> {
  const kv = (await client.get(keys.leader).revision(revision).exec()).kvs[0];
  if (kv === undefined) return null;
  const holder = parseInstance(kv.value.toString());
  return {
    id: holder?.id ?? `unreadable: ${kv.value.toString()}`,
    announce: holder?.announce ?? '',
    fence: Number(kv.create_revision),
  };
}

/** Every version of the group's state key, oldest first, each with its leader at its revision. */
export async function stateHistory(client: Etcd3, keys: GroupKeys): Promise<StateWrite[]> {
  const current = (await client.get(keys.state).exec()).kvs[0];
  if (current === undefined) return [];
  const created = Number(current.create_revision);
  const writes: StateWrite[] = [];
  let revision = Number(current.mod_revision);
  while (revision >= created) {
    const kv = (await client.get(keys.state).revision(revision).exec()).kvs[0];
    assert.ok(kv !== undefined, `the state key at revision ${revision}`);
    assert.equal(Number(kv.create_revision), created, 'the state key was never deleted');
    const written = Number(kv.mod_revision);
    const value = parsed(kv.value.toString());
    writes.push({
      revision: written,
      writtenBy: writtenByOf(value),
      leader: await leaderAt(client, keys, written),
      ...summary(value),
    });
    revision = written - 1;
  }
  // Each version was found: none was skipped by the walk.
  assert.equal(writes.length, Number(current.version), 'every version of the state key read');
  return writes.reverse();
}

/**
 * Asserts that every write of the group's state in `cluster` was made under the leader of its
 * revision; returns the writes (oldest first) for the caller's own assertions.
 */
export async function assertStateWritesUnderLeader(
  cluster: EtcdCluster,
  keys: GroupKeys,
): Promise<StateWrite[]> {
  const client = new Etcd3({
    hosts: [...cluster.clientUrls],
    defaultCallOptions: () => ({ deadline: Date.now() + CALL_MS }),
  });
  try {
    const writes = await stateHistory(client, keys);
    assert.ok(writes.length > 0, `the state key ${keys.state} was written`);
    const violations = writerViolations(writes);
    assert.deepEqual(
      violations,
      [],
      `writes not made under their leader:\n${violations.join('\n')}`,
    );
    return writes;
  } finally {
    client.close();
  }
}

/** The first write whose failover timeline has `step` (the write that recorded it). */
export function firstWriteOf(writes: readonly StateWrite[], step: string): StateWrite {
  const write = writes.find((candidate) => candidate.timeline.includes(step));
  assert.ok(write !== undefined, `a write recorded ${step}: ${JSON.stringify(writes)}`);
  return write;
}
