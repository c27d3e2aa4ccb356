// The full syncs a replica took, read in its own log (harness/redis-log.ts), on lines as Redis
// 7.0.15 writes them (copied from real logs; test/functional/replica-log-full-syncs.test.ts reads
// a live server's).
import assert from 'node:assert/strict';
import { mkdtempSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FullSyncLog, LogFollower, parseRedisLogLine } from '../../harness/redis-log.js';

const START = [
  '32113:C 02 Dec 2026 20:58:10.152 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo',
  '32113:C 02 Dec 2026 20:58:10.153 # Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=32113, just started',
  '32113:C 02 Dec 2026 20:58:10.153 # Configuration loaded',
  '32113:M 02 Dec 2026 20:58:10.162 # Server initialized',
];
const LOAD_AT_START = [
  '32113:M 02 Dec 2026 20:58:10.165 * Loading RDB produced by version 7.0.15',
  '32113:M 02 Dec 2026 20:58:10.177 * Done loading RDB, keys loaded: 20000, keys expired: 0.',
  '32113:M 02 Dec 2026 20:58:10.177 * DB loaded from disk: 0.012 seconds',
];
const READY = ['32113:M 02 Dec 2026 20:58:10.177 * Ready to accept connections'];
const PARTIAL = [
  '32113:S 02 Dec 2026 20:58:11.000 * Connecting to MASTER 127.0.0.1:17001',
  '32113:S 02 Dec 2026 20:58:11.001 * MASTER <-> REPLICA sync started',
  '32113:S 02 Dec 2026 20:58:11.002 * Trying a partial resynchronization (request 757145fcb94fb5da0a6e25bed757e993771df912:15).',
  "32113:S 02 Dec 2026 20:58:11.003 * Successfully connected to MASTER: can't psync, partial sync accepted",
  '32113:S 02 Dec 2026 20:58:11.003 * MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.',
];
const FULL = [
  '32113:S 02 Dec 2026 20:58:12.839 * Trying a partial resynchronization (request 757145fcb94fb5da0a6e25bed757e993771df912:15).',
  '32113:S 02 Dec 2026 20:58:15.542 * Full resync from master: 7c2e1a3b1aae97a827061e3905104e98d24f987d:14',
  '32113:S 02 Dec 2026 20:58:15.576 * MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk',
  '32113:S 02 Dec 2026 20:58:15.577 * Discarding previously cached master state.',
  '32113:S 02 Dec 2026 20:58:15.577 * MASTER <-> REPLICA sync: Flushing old data',
  '32113:S 02 Dec 2026 20:58:15.582 * MASTER <-> REPLICA sync: Loading DB in memory',
  '32113:S 02 Dec 2026 20:58:15.584 * Loading RDB produced by version 7.0.15',
  '32113:S 02 Dec 2026 20:58:15.606 * Done loading RDB, keys loaded: 2001, keys expired: 0.',
  '32113:S 02 Dec 2026 20:58:15.606 * MASTER <-> REPLICA sync: Finished with success',
];

const local = (ms: number): number => new Date(2026, 11, 2, 20, 58, 0, ms).getTime();

describe('parseRedisLogLine', () => {
  test('PID, role, local time to the millisecond, and the text', () => {
    assert.deepEqual(parseRedisLogLine(FULL[1] ?? ''), {
      pid: 32113,
      role: 'S',
      at: local(15_542),
      text: 'Full resync from master: 7c2e1a3b1aae97a827061e3905104e98d24f987d:14',
    });
  });

  test('anything else is no line of a log', () => {
    assert.equal(parseRedisLogLine(''), undefined);
    assert.equal(parseRedisLogLine('garbage 02 Dec 2026 20:58:15.542 * x'), undefined);
    assert.equal(parseRedisLogLine('1:S 02 Foo 2026 20:58:15.542 * x'), undefined);
  });
});

describe('FullSyncLog', () => {
  test('a full sync: when the master was accepted, flushed, loaded, finished', () => {
    const log = new FullSyncLog();
    const begun = log.push([...START, ...READY, ...FULL]);
    assert.equal(begun.length, 1);
    const [sync] = begun;
    assert.equal(sync?.pid, 32113);
    assert.equal(sync?.at, local(15_542));
    assert.equal(sync?.replid, '7c2e1a3b1aae97a827061e3905104e98d24f987d');
    assert.equal(sync?.flushedAt, local(15_577));
    assert.equal(sync?.keysLoaded, 2001);
    assert.equal(sync?.finishedAt, local(15_606));
    assert.equal(sync?.endedAt, local(15_606));
    assert.equal(sync?.lines[0], FULL[1]);
  });

  test('a partial resync and a load of its own dump.rdb at start are no full sync', () => {
    const log = new FullSyncLog();
    assert.deepEqual(log.push([...START, ...LOAD_AT_START, ...READY, ...PARTIAL]), []);
    assert.deepEqual(log.syncs, []);
  });

  test('what a process held before a sync: what it loaded at start, else nothing', () => {
    const loaded = new FullSyncLog();
    const [afterLoad] = loaded.push([...START, ...LOAD_AT_START, ...READY, ...FULL]);
    assert.ok(afterLoad !== undefined);
    assert.deepEqual(loaded.heldBefore(afterLoad), { at: local(10_177), keys: 20_000 });

    const empty = new FullSyncLog();
    const [afterEmpty] = empty.push([...START, ...READY, ...FULL]);
    assert.ok(afterEmpty !== undefined);
    assert.deepEqual(empty.heldBefore(afterEmpty), { at: local(10_153), keys: 0 });

    const unseen = new FullSyncLog();
    const [afterUnseen] = unseen.push(FULL);
    assert.ok(afterUnseen !== undefined);
    assert.equal(unseen.heldBefore(afterUnseen), undefined, 'its start is not in the lines');
  });

  test('what a process held before its second sync: what the first one loaded', () => {
    const log = new FullSyncLog();
    const again = FULL.map((line) => line.replace('20:58:1', '20:59:1'));
    const [, second] = log.push([...START, ...READY, ...FULL, ...again]);
    assert.ok(second !== undefined);
    assert.deepEqual(log.heldBefore(second), { at: local(15_606), keys: 2001 });
  });

  test('a failed transfer ends the attempt; the next one is a sync of its own', () => {
    const log = new FullSyncLog();
    const failed = [
      FULL[1] ?? '',
      '32113:S 02 Dec 2026 20:58:15.600 # I/O error trying to sync with MASTER: connection lost',
    ];
    const begun = log.push([...START, ...READY, ...failed, ...FULL.slice(1)]);
    assert.equal(begun.length, 2);
    assert.equal(begun[0]?.endedAt, local(15_600));
    assert.equal(begun[0]?.flushedAt, undefined, 'the first never flushed');
    assert.equal(begun[1]?.finishedAt, local(15_606));
  });

  test('each process apart: a restarted server (a new PID) starts with what it loaded', () => {
    const log = new FullSyncLog();
    const restarted = [...START, ...READY].map((line) =>
      line.replace(/^32113/, '40000').replace('pid=32113', 'pid=40000'),
    );
    const secondFull = FULL.map((line) => line.replace(/^32113/, '40000'));
    const [first, second] = log.push([...START, ...READY, ...FULL, ...restarted, ...secondFull]);
    assert.equal(first?.pid, 32113);
    assert.equal(second?.pid, 40000);
    assert.ok(second !== undefined);
    assert.equal(log.heldBefore(second)?.keys, 0, 'the new process started empty');
  });
});

describe('LogFollower', () => {
  test('complete lines only, from where it last read; from the end if asked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbuddy-log-follower-'));
    try {
      const file = join(dir, 'redis.log');
      const fromStart = new LogFollower(file);
      assert.deepEqual(fromStart.readLines(), [], 'no file yet');
      appendFileSync(file, 'one\n');
      const fromEnd = new LogFollower(file, true);
      appendFileSync(file, 'tw');
      assert.deepEqual(fromStart.readLines(), ['one'], 'a line still being written waits');
      appendFileSync(file, 'o\nthree\n');
      assert.deepEqual(fromStart.readLines(), ['two', 'three']);
      assert.deepEqual(fromEnd.readLines(), ['two', 'three']);
      assert.deepEqual(fromStart.readLines(), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
