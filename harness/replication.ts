// Replication-level helpers for the functional tests, the bench and the demo: realistic datasets,
// "is this replica really in sync" (offsets AND contents), background writers, and the master's
// sync counters.

import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { waitFor } from './wait-for.js';

type PipelineResults = [error: Error | null, result: unknown][];

const MIB = 1024 * 1024;
/** TTL for every expiring key we write: far longer than any test, so nothing expires mid-test and
 * master and replica never differ by a key the replica has not yet been told to delete. */
const LONG_TTL_SECONDS = 36_000;

// ---------------------------------------------------------------------------------------------
// INFO

/** `INFO <section>` as a map of `field → value` (section headers and blank lines skipped). */
export async function info(client: Redis, section: string): Promise<Record<string, string>> {
  return parseInfo(await client.info(section));
}

export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

export interface MasterStats {
  syncFull: number;
  syncPartialOk: number;
  syncPartialErr: number;
}

/** The master's counters of full and partial resyncs served (INFO stats). */
export async function masterStats(client: Redis): Promise<MasterStats> {
  const stats = await info(client, 'stats');
  return {
    syncFull: intField(stats, 'sync_full'),
    syncPartialOk: intField(stats, 'sync_partial_ok'),
    syncPartialErr: intField(stats, 'sync_partial_err'),
  };
}

function intField(fields: Record<string, string>, name: string): number {
  const text = fields[name];
  const value = text === undefined ? NaN : Number(text);
  if (!Number.isInteger(value)) throw new Error(`INFO field ${name} missing or not an integer`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Datasets

export interface PopulateOptions {
  /** Lower bound of the string payload written, in MiB (edge-case keys come on top). */
  megabytes: number;
  /** Logical dbs to spread the data over. Default [0, 1, 2]. */
  dbs?: readonly number[];
  /** Prefix of every key written. Default `populate`. */
  keyPrefix?: string;
  /**
   * How the bulk bytes are written.
   * - `random` (default): MSET of incompressible random values. The snapshot on the wire is then
   *   as large as the dataset, which is the point of a "100 MB sync" test.
   * - `debug-populate`: `DEBUG POPULATE`, several times faster, but its values are zero-padded
   *   and RDB's LZF compression shrinks them ~25x: 100 MB of keys becomes a ~4 MB snapshot.
   */
  bulk?: 'random' | 'debug-populate';
  /** Size of each bulk value in bytes. Default 1000. */
  valueBytes?: number;
}

/**
 * Fills the server behind `client` with a realistic dataset: the bulk of the bytes as plain
 * strings, plus, in every db, one or more keys of every data type and encoding, some expiring
 * (after hours), and edge values (empty, binary, 1 MiB). Uses its own connections, so `client`'s
 * selected db is left alone.
 */
export async function populate(client: Redis, options: PopulateOptions): Promise<void> {
  const dbs = options.dbs ?? [0, 1, 2];
  const prefix = options.keyPrefix ?? 'populate';
  const valueBytes = options.valueBytes ?? 1000;
  if (dbs.length === 0) throw new Error('populate: no dbs given');
  const keysPerDb = Math.ceil((options.megabytes * MIB) / valueBytes / dbs.length);
  // One pool of random bytes, sliced at a different offset per key: each value is incompressible
  // on its own (LZF works within one value), without generating megabytes of randomness per call.
  const pool = randomBytes(Math.max(MIB, valueBytes * 2));

  await Promise.all(
    dbs.map(async (db) => {
      const conn = client.duplicate({ db, lazyConnect: false });
      conn.on('error', () => undefined);
      try {
        if (options.bulk === 'debug-populate') {
          await conn.call('DEBUG', ['POPULATE', keysPerDb, `${prefix}:bulk`, valueBytes]);
        } else {
          await writeRandomBulk(conn, `${prefix}:bulk`, keysPerDb, valueBytes, pool);
        }
        await writeTypedKeys(conn, `${prefix}:db${db}`, pool);
      } finally {
        conn.disconnect();
      }
    }),
  );
}

async function writeRandomBulk(
  conn: Redis,
  keyPrefix: string,
  count: number,
  valueBytes: number,
  pool: Buffer,
): Promise<void> {
  const pairsPerMset = 100;
  const msetsPerPipeline = 50;
  let pipeline = conn.pipeline();
  let queued = 0;
  for (let first = 0; first < count; first += pairsPerMset) {
    const args: (string | Buffer)[] = [];
    for (let i = first; i < Math.min(count, first + pairsPerMset); i += 1) {
      // A prime stride spreads the offsets over the whole pool.
      const offset = (i * 7_919) % (pool.length - valueBytes);
      args.push(`${keyPrefix}:${i}`, pool.subarray(offset, offset + valueBytes));
    }
    pipeline.mset(...args);
    queued += 1;
    // Await in slices of ~5 MB: bounded client memory, and Redis is never idle for long.
    if (queued === msetsPerPipeline) {
      checkPipeline(await pipeline.exec(), 'populate bulk');
      pipeline = conn.pipeline();
      queued = 0;
    }
  }
  if (queued > 0) checkPipeline(await pipeline.exec(), 'populate bulk');
}

/** One key (or more) per type and encoding, and the edge values, all under `p`. */
async function writeTypedKeys(conn: Redis, p: string, pool: Buffer): Promise<void> {
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const keys = [
    'str',
    'str:int',
    'str:ttl',
    'str:empty',
    'str:binary',
    'str:1mb',
    'hash:small',
    'hash:large',
    'hash:ttl',
    'list:small',
    'list:large',
    'set:intset',
    'set:hashtable',
    'zset:small',
    'zset:large',
    'stream',
    'hll:sparse',
    'hll:dense',
    'bitmap',
    'geo',
  ].map((k) => `${p}:${k}`);
  const binaryKey = Buffer.concat([Buffer.from(`${p}:bin-key:`), Buffer.from([0, 0xff, 13, 10])]);
  // Every byte value, including CR LF and NUL, which a relay that parses instead of forwarding
  // would be most likely to mangle.
  const allBytes = Buffer.from(range(256));

  const pipe = conn.pipeline();
  // Idempotent: a second call with the same prefix rebuilds instead of appending.
  pipe.del(...keys, binaryKey);

  pipe.set(`${p}:str`, 'hello');
  pipe.set(`${p}:str:int`, '1234567');
  pipe.set(`${p}:str:ttl`, 'expires-later', 'EX', LONG_TTL_SECONDS);
  pipe.set(`${p}:str:empty`, '');
  pipe.set(`${p}:str:binary`, allBytes);
  pipe.set(binaryKey, allBytes, 'EX', LONG_TTL_SECONDS + 1);
  pipe.set(`${p}:str:1mb`, pool.subarray(0, MIB));

  pipe.hset(`${p}:hash:small`, { a: '1', b: '2', c: '' });
  // > hash-max-listpack-entries (128): hashtable encoding.
  pipe.hset(`${p}:hash:large`, ...range(1_000).flatMap((i) => [`field:${i}`, `value:${i}`]));
  pipe.hset(`${p}:hash:ttl`, { x: '1' });
  pipe.expire(`${p}:hash:ttl`, LONG_TTL_SECONDS + 2);

  pipe.rpush(`${p}:list:small`, 'a', 'b', '', 'c');
  // Many quicklist nodes (list-max-listpack-size -2 = 8 kB per node).
  pipe.rpush(`${p}:list:large`, ...range(5_000).map((i) => `element:${i}`));
  pipe.pexpire(`${p}:list:large`, LONG_TTL_SECONDS * 1_000 + 3);

  // Integers only, few: intset. Strings or > set-max-intset-entries (512): hashtable.
  pipe.sadd(`${p}:set:intset`, ...range(100));
  pipe.sadd(`${p}:set:hashtable`, ...range(1_000).map((i) => `member:${i}`));

  pipe.zadd(`${p}:zset:small`, 1, 'one', 2.5, 'two-and-a-half', -3, 'minus-three');
  // > zset-max-listpack-entries (128): skiplist.
  pipe.zadd(`${p}:zset:large`, ...range(1_000).flatMap((i) => [i * 1.5, `member:${i}`]));
  pipe.expire(`${p}:zset:large`, LONG_TTL_SECONDS + 4);

  for (const i of range(100))
    pipe.xadd(`${p}:stream`, '*', 'n', String(i), 'payload', 'x'.repeat(i));
  pipe.xgroup('CREATE', `${p}:stream`, 'readers', '0');
  pipe.xgroup('CREATE', `${p}:stream`, 'late-readers', '$');
  // Leaves 10 entries pending for consumer c1: the consumer group state is part of the dataset.
  pipe.xreadgroup('GROUP', 'readers', 'c1', 'COUNT', 10, 'STREAMS', `${p}:stream`, '>');

  pipe.pfadd(`${p}:hll:sparse`, 'a', 'b', 'c');
  // Enough distinct elements to pass hll-sparse-max-bytes (3000) and switch to the dense form.
  pipe.pfadd(`${p}:hll:dense`, ...range(5_000).map((i) => `visitor:${i}`));

  pipe.setbit(`${p}:bitmap`, 0, 1);
  pipe.setbit(`${p}:bitmap`, 7, 1);
  pipe.setbit(`${p}:bitmap`, 100_000, 1);

  pipe.geoadd(
    `${p}:geo`,
    ...[
      [13.361389, 38.115556, 'Palermo'],
      [15.087269, 37.502669, 'Catania'],
      [2.349014, 48.864716, 'Paris'],
      [-122.419416, 37.774929, 'San Francisco'],
    ].flat(),
  );
  pipe.expire(`${p}:geo`, LONG_TTL_SECONDS + 5);

  checkPipeline(await pipe.exec(), 'populate typed keys');
}

function checkPipeline(results: PipelineResults | null, what: string): PipelineResults {
  if (results === null) throw new Error(`${what}: pipeline aborted`);
  const failed = results.find(([error]) => error !== null);
  if (failed?.[0]) throw new Error(`${what}: ${failed[0].message}`, { cause: failed[0] });
  return results;
}

/** `DEBUG DIGEST`: a hash of the whole dataset (keys, values, types, presence of a TTL). */
export async function digest(client: Redis): Promise<string> {
  const value = await client.call('DEBUG', ['DIGEST']);
  if (typeof value !== 'string') throw new Error(`DEBUG DIGEST returned ${typeof value}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// In sync?

export interface WaitForInSyncOptions {
  /** Default 120 s: a 100 MB sync through the proxy on a loaded 2-core machine takes a while. */
  timeoutMs?: number;
}

interface NodeSnapshot {
  offset: number;
  replid: string;
  digest: string;
}

/** Thrown when the replica has reached the master's offset but holds different data. */
export class DigestMismatchError extends Error {
  constructor(
    readonly offset: number,
    readonly masterDigest: string,
    readonly replicaDigest: string,
  ) {
    super(
      `replica reached master offset ${offset} but DEBUG DIGEST differs: ` +
        `master ${masterDigest}, replica ${replicaDigest}`,
    );
    this.name = 'DigestMismatchError';
  }
}

/**
 * Waits until `replica` is a caught-up replica of `master` and holds the same data.
 *
 * 1. Cheap checks first (INFO only), repeated until they pass: the replica's link is up, no sync
 *    or load in progress, it follows the master's replication id, and its offset has reached the
 *    master's offset as read just before.
 * 2. Then offsets and digests are taken atomically on each side (MULTI … EXEC). Equal offsets
 *    with different digests is a real divergence and throws {@link DigestMismatchError} at once;
 *    unequal offsets (a write or the master's periodic PING in between) means "look again".
 *
 * Writers should be stopped first: with a constant stream of writes the offsets rarely line up
 * and this times out.
 */
export async function waitForInSync(
  master: Redis,
  replica: Redis,
  options: WaitForInSyncOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const result = await waitFor(
    async (): Promise<DigestMismatchError | true | undefined> => {
      const masterRepl = await info(master, 'replication');
      const masterOffset = intField(masterRepl, 'master_repl_offset');
      await assertReplicaCaughtUp(replica, masterRepl['master_replid'] ?? '', masterOffset);

      const [m, r] = [await snapshot(master), await snapshot(replica)];
      if (m.offset !== r.offset || m.replid !== r.replid) {
        throw new Error(
          `offsets moved between the two snapshots: master ${m.offset}, replica ${r.offset}`,
        );
      }
      return m.digest === r.digest ? true : new DigestMismatchError(m.offset, m.digest, r.digest);
    },
    { what: 'the replica to be in sync with the master', timeoutMs, intervalMs: 100 },
  );
  if (result instanceof DigestMismatchError) throw result;
}

/** Throws (meaning "not yet") with the reason while the replica is not caught up. */
async function assertReplicaCaughtUp(
  replica: Redis,
  masterReplid: string,
  masterOffset: number,
): Promise<void> {
  const repl = await info(replica, 'replication');
  const persistence = await info(replica, 'persistence');
  const problems: string[] = [];
  if (repl['role'] !== 'slave') problems.push(`role is ${String(repl['role'])}`);
  if (repl['master_link_status'] !== 'up') {
    problems.push(`master_link_status is ${String(repl['master_link_status'])}`);
  }
  if (repl['master_sync_in_progress'] !== '0') problems.push('a sync is in progress');
  if (persistence['loading'] !== '0') problems.push('loading');
  // async_loading only exists from Redis 7.0 on (repl-diskless-load swapdb).
  if (persistence['async_loading'] !== undefined && persistence['async_loading'] !== '0') {
    problems.push('async_loading');
  }
  if (repl['master_replid'] !== masterReplid) {
    problems.push(`replid ${String(repl['master_replid'])}, master has ${masterReplid}`);
  }
  const offset = Number(repl['master_repl_offset']);
  if (!(offset >= masterOffset)) problems.push(`offset ${offset} < master offset ${masterOffset}`);
  if (problems.length > 0) throw new Error(`replica not in sync: ${problems.join(', ')}`);
}

/** Offset, replid and digest read in one MULTI, so they describe the same moment. */
async function snapshot(client: Redis): Promise<NodeSnapshot> {
  const results = checkPipeline(
    await client.multi().info('replication').call('DEBUG', ['DIGEST']).exec(),
    'MULTI INFO replication / DEBUG DIGEST',
  );
  const repl = parseInfo(String(results[0]?.[1]));
  const digestValue = results[1]?.[1];
  if (typeof digestValue !== 'string') throw new Error('DEBUG DIGEST in MULTI returned no string');
  return {
    offset: intField(repl, 'master_repl_offset'),
    replid: repl['master_replid'] ?? '',
    digest: digestValue,
  };
}

// ---------------------------------------------------------------------------------------------
// Background writes

export interface WriterOptions {
  /** Prefix of every key the writer touches (it cycles over a bounded key space under it). */
  keyPrefix: string;
  /**
   * Pause between batches. Default 5 ms, so at most 10,000 writes a second: a steady load, not a
   * flood. A writer as fast as the server answers makes the replication stream, and so what a
   * test waits for, grow with the machine's speed.
   */
  intervalMs?: number;
  /** Commands per pipeline. Default 50. */
  batchSize?: number;
}

export interface Writer {
  /** Stops after the batch in flight; resolves with the number of acknowledged writes. Rejects
   * if that batch has not finished within 10 s (a paused or wedged server), since later writes
   * landing after "stop" would break any digest comparison that follows. */
  stop(): Promise<number>;
  /** Writes acknowledged so far. */
  readonly writes: number;
  /** Commands or batches that failed so far. */
  readonly errors: number;
}

const WRITER_STOP_TIMEOUT_MS = 10_000;

/**
 * Writes continuously (SET, INCR, LPUSH+LTRIM, HSET, EXPIRE with a long TTL, in pipelines) until
 * stopped: the "writes during the snapshot" load. Memory stays bounded: keys cycle over 1000
 * names and lists are trimmed.
 */
export function startWriter(client: Redis, options: WriterOptions): Writer {
  const { keyPrefix } = options;
  const intervalMs = options.intervalMs ?? 5;
  const batchSize = options.batchSize ?? 50;
  let running = true;
  let writes = 0;
  let errors = 0;
  let seq = 0;

  const loop = (async () => {
    // A client that was closed (a test's cleanup after a failure) ends the loop: retrying forever
    // would keep the test process alive.
    while (running && client.status !== 'end') {
      const pipe = client.pipeline();
      for (let i = 0; i < batchSize; i += 1) {
        seq += 1;
        const slot = seq % 1_000;
        switch (seq % 5) {
          case 0:
            pipe.set(`${keyPrefix}:str:${slot}`, `value:${seq}`);
            break;
          case 1:
            pipe.incr(`${keyPrefix}:counter:${slot % 10}`);
            break;
          case 2:
            pipe.lpush(`${keyPrefix}:list:${slot % 10}`, `element:${seq}`);
            pipe.ltrim(`${keyPrefix}:list:${slot % 10}`, 0, 99);
            break;
          case 3:
            pipe.hset(`${keyPrefix}:hash:${slot % 10}`, `field:${slot}`, String(seq));
            break;
          default:
            pipe.expire(`${keyPrefix}:str:${slot}`, LONG_TTL_SECONDS);
        }
      }
      const errorsBefore = errors;
      try {
        const results = (await pipe.exec()) ?? [];
        for (const [error] of results) {
          if (error === null) writes += 1;
          else errors += 1;
        }
      } catch {
        errors += 1;
      }
      const failedBatch = errors > errorsBefore;
      // After a failure, pause a little so a down server is not hammered in a hot loop.
      const pause = failedBatch ? Math.max(intervalMs, 20) : intervalMs;
      await new Promise((resolve) =>
        pause > 0 ? setTimeout(resolve, pause) : setImmediate(resolve),
      );
    }
  })();
  // Nothing in the loop should throw, but if it did the rejection must surface in stop(), not
  // as an unhandled rejection that kills the test process between two tests.
  loop.catch(() => undefined);

  return {
    get writes() {
      return writes;
    },
    get errors() {
      return errors;
    },
    async stop() {
      running = false;
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => {
        timer = setTimeout(() => resolve('stuck'), WRITER_STOP_TIMEOUT_MS);
      });
      try {
        if ((await Promise.race([loop, stuck])) === 'stuck') {
          throw new Error(
            `writer ${keyPrefix} did not stop within ${WRITER_STOP_TIMEOUT_MS}ms: ` +
              `its batch in flight never completed`,
          );
        }
      } finally {
        clearTimeout(timer);
      }
      return writes;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The write guard

/**
 * A write to the node is refused with -NOREPLICAS (the reply's error code: rbuddy's write guard
 * on a promoted active or an idle standby), and nothing is written.
 */
export async function assertWritesRefused(client: Redis, key: string): Promise<void> {
  let code: string | undefined;
  try {
    await client.set(key, 'must-not-be-written');
  } catch (error) {
    code = (error as Error).message.split(' ')[0];
  }
  if (code !== 'NOREPLICAS')
    throw new Error(`SET ${key}: expected -NOREPLICAS, got ${code ?? 'OK'}`);
  if ((await client.exists(key)) !== 0)
    throw new Error(`SET ${key} was refused but the key exists`);
}
