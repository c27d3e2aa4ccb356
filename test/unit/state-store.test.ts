// StateFile (--state-dir/state.json): what a restart reads back (I2, I3). A saved state
// loads back equal; a missing file is "missing"; a file that cannot be trusted is "corrupt" with
// the reason and the file's path; a crashed write leaves no torn file, and concurrent saves end
// with the last one on disk; a failed write leaves no temp file and shows in status(). The events
// saved with a switch are checked as the outbox checks its entries: all the event bus stamps
// loads, anything else makes the file corrupt.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { EventBus, type RbuddyEvent } from '../../src/notify/events.js';
import type { FailoverRecord, PersistedState } from '../../src/standby/persisted-state.js';
import { StateFile } from '../../src/standby/state-file.js';
import { EVENT_TYPES } from '../helpers/event-types.js';

const A = '10.0.0.5:6379';
const B = '10.0.0.6:6379';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-state-store-test-'));
  dirs.push(dir);
  return dir;
}

function record(overrides: Partial<FailoverRecord> = {}): FailoverRecord {
  return {
    id: '5d0c2f3e-0000-4000-8000-000000000001',
    kind: 'unplanned',
    reason: 'the master has been unreachable for 1200 ms (grace 1000 ms)',
    startedAt: '2026-03-01T12:00:00.000Z',
    outgoing: A,
    incoming: B,
    step: 'syncing',
    savedConfig: { 'min-replicas-to-write': '0', 'min-replicas-max-lag': '10' },
    verifiedAt: null,
    timeline: [
      { step: 'started', at: '2026-03-01T12:00:00.000Z', detail: 'grace expired' },
      { step: 'standby-attached', at: '2026-03-01T12:00:01.000Z' },
    ],
    ...overrides,
  };
}

function state(overrides: Partial<PersistedState> = {}): PersistedState {
  return {
    version: 1,
    epoch: 3,
    active: A,
    standby: B,
    activeHoldsData: true,
    failover: null,
    lastFailover: null,
    ...overrides,
  };
}

/** Roles after the switch: B active, A (outgoing) the standby. */
function switched(overrides: Partial<FailoverRecord> = {}): PersistedState {
  return state({
    epoch: 4,
    active: B,
    standby: A,
    failover: record({ step: 'switched', verifiedAt: '2026-03-01T12:00:30.000Z', ...overrides }),
  });
}

/** An event as the switch saves it in `unannounced`. */
function savedEvent(): RbuddyEvent {
  return {
    id: 'e1',
    type: 'failover.completed',
    timestamp: '2026-03-01T12:00:30.000Z',
    group: 'rbuddy',
    epoch: 4,
    data: { active: B, standby: A, master: '10.0.0.2:6379', reason: 'grace expired' },
  };
}

describe('StateFile', () => {
  test('events saved as the event bus stamps them load back, whatever their type', async () => {
    // The events in `unannounced` are checked as strictly as the outbox checks its entries: what
    // the writer writes must pass, or a state file rbuddy wrote would be taken for corrupt.
    const bus = new EventBus('rbuddy', pino({ level: 'silent' }));
    const data = { active: B, standby: A, master: '10.0.0.2:6379' };
    const saved = switched();
    saved.unannounced = [
      ...EVENT_TYPES.map((type) => bus.create(type, 4, { ...data })),
      bus.create('failover.held', 4, { ...data, reason: 'empty', activeKeys: 9, standbyKeys: 0 }),
      bus.create('failover.completed', 4, { ...data, reason: 'planned', previousActive: A }),
    ];
    const store = new StateFile(await tempDir());
    await store.save(saved);
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: saved });
  });

  test('save then load gives the same state back, in a directory it creates', async () => {
    const dir = join(await tempDir(), 'nested', 'state');
    const store = new StateFile(dir);
    const saved = state({
      standbySavedConfig: { 'min-replicas-to-write': '3', 'min-replicas-max-lag': '0' },
      failover: record(),
      lastFailover: {
        ...record({ id: 'previous', step: 'switched', verifiedAt: '2026-02-01T00:00:00.000Z' }),
        endedAt: '2026-02-01T00:00:05.000Z',
        result: 'completed',
      },
    });
    await store.save(saved);
    assert.deepEqual(await store.load(), {
      kind: 'ok',
      file: join(dir, 'state.json'),
      state: saved,
    });

    // The events saved with a switch come back as they were.
    const withEvents = switched();
    withEvents.unannounced = [savedEvent()];
    await store.save(withEvents);
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: withEvents });

    // A later save replaces it whole.
    const next = switched();
    await store.save(next);
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: next });
    assert.deepEqual(await readdir(dir), ['state.json']);
  });

  test('no file: missing, naming the file', async () => {
    const dir = await tempDir();
    assert.deepEqual(await new StateFile(dir).load(), {
      kind: 'missing',
      file: join(dir, 'state.json'),
    });
  });

  const corrupt: { name: string; contents: string | object; why: RegExp }[] = [
    { name: 'not JSON', contents: '{"version": 1, "epoch": 3,', why: /not valid JSON/ },
    { name: 'empty file', contents: '', why: /not valid JSON/ },
    { name: 'a JSON array', contents: [state()], why: /not a JSON object/ },
    { name: 'wrong version', contents: { ...state(), version: 2 }, why: /unknown version 2/ },
    { name: 'no version', contents: { ...state(), version: undefined }, why: /unknown version/ },
    { name: 'negative epoch', contents: state({ epoch: -1 }), why: /epoch/ },
    { name: 'fractional epoch', contents: state({ epoch: 1.5 }), why: /epoch/ },
    { name: 'no active', contents: state({ active: '' }), why: /active is missing/ },
    { name: 'no standby', contents: { ...state(), standby: 7 }, why: /standby is missing/ },
    {
      name: 'active == standby',
      contents: state({ standby: A }),
      why: /active and standby name the same node/,
    },
    {
      name: 'activeHoldsData not a boolean',
      contents: { ...state(), activeHoldsData: 'yes' },
      why: /activeHoldsData/,
    },
    {
      name: 'standbySavedConfig with a value that is not a string',
      contents: { ...state(), standbySavedConfig: { 'min-replicas-to-write': 0 } },
      why: /standbySavedConfig is not an object of strings/,
    },
    {
      name: 'unknown step',
      contents: state({ failover: { ...record(), step: 'flushing' as FailoverRecord['step'] } }),
      why: /failover: unknown step "flushing"/,
    },
    {
      name: 'unknown failover kind',
      contents: state({ failover: { ...record(), kind: 'manual' as FailoverRecord['kind'] } }),
      why: /kind/,
    },
    {
      name: 'outgoing names a third node',
      contents: state({ failover: record({ outgoing: '10.0.0.7:6379' }) }),
      why: /do not name the two nodes/,
    },
    {
      name: 'outgoing == incoming',
      contents: state({ failover: record({ incoming: A }) }),
      why: /do not name the two nodes/,
    },
    {
      name: 'outgoing contradicts the roles before the switch (it is the standby)',
      contents: state({ failover: record({ outgoing: B, incoming: A }) }),
      why: /outgoing 10\.0\.0\.6:6379 contradicts the roles for step syncing/,
    },
    {
      name: 'outgoing contradicts the roles after the switch (it is still the active)',
      contents: { ...switched(), active: A, standby: B },
      why: /outgoing 10\.0\.0\.5:6379 contradicts the roles for step switched/,
    },
    {
      name: 'switched without verifiedAt',
      contents: switched({ verifiedAt: null }),
      why: /switched without a verified incoming node/,
    },
    {
      name: 'syncedRunId not a string',
      contents: { ...state(), failover: { ...record(), syncedRunId: 42 } },
      why: /syncedRunId is not a string/,
    },
    {
      name: 'timeline not an array',
      contents: state({ failover: { ...record(), timeline: {} as FailoverRecord['timeline'] } }),
      why: /timeline/,
    },
    {
      name: 'unannounced not an array',
      contents: { ...state(), unannounced: {} },
      why: /unannounced is not an array/,
    },
    {
      name: 'an unannounced event without an id',
      contents: { ...state(), unannounced: [{ type: 'failover.completed', epoch: 4, data: {} }] },
      why: /unannounced\[0\]: no id/,
    },
    {
      name: 'an unannounced event of a type rbuddy never sends',
      contents: { ...state(), unannounced: [{ ...savedEvent(), type: 'failover.maybe' }] },
      why: /unannounced\[0\]: unknown type "failover\.maybe"/,
    },
    {
      name: 'an unannounced event without its group',
      contents: { ...state(), unannounced: [{ ...savedEvent(), group: undefined }] },
      why: /unannounced\[0\]: no group/,
    },
    {
      name: 'an unannounced event whose data names no active',
      contents: {
        ...state(),
        unannounced: [{ ...savedEvent(), data: { standby: A, master: '10.0.0.2:6379' } }],
      },
      why: /unannounced\[0\]: data lacks active, standby or master/,
    },
    {
      name: 'lastFailover not an object',
      contents: { ...state(), lastFailover: 'yesterday' },
      why: /lastFailover/,
    },
  ];

  for (const { name, contents, why } of corrupt) {
    test(`corrupt: ${name}`, async () => {
      const dir = await tempDir();
      const file = join(dir, 'state.json');
      await writeFile(file, typeof contents === 'string' ? contents : JSON.stringify(contents));
      const result = await new StateFile(dir).load();
      assert.equal(result.kind, 'corrupt');
      assert.ok(result.kind === 'corrupt', 'narrowing');
      assert.equal(result.file, file);
      assert.match(result.why, why);
      // Reported, never replaced: the bad file stays as it was for the operator to inspect.
      assert.equal(
        await readFile(file, 'utf8'),
        typeof contents === 'string' ? contents : JSON.stringify(contents),
      );
    });
  }

  test('corrupt: a state.json that cannot be read (a directory) says so', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'state.json'));
    const result = await new StateFile(dir).load();
    assert.equal(result.kind, 'corrupt');
    assert.ok(result.kind === 'corrupt', 'narrowing');
    assert.match(result.why, /cannot read it/);
  });

  test('a temp file left by a crashed write does not break load or the next save', async () => {
    const dir = await tempDir();
    const store = new StateFile(dir);
    const good = state({ epoch: 9 });
    await store.save(good);
    // A write that died half-way, under this process's name and under another's.
    const torn = JSON.stringify(switched()).slice(0, 57);
    await writeFile(join(dir, `state.json.${process.pid}.tmp`), torn);
    await writeFile(join(dir, 'state.json.99999.tmp'), torn);
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: good });

    // With only the leftover and no state.json, the state is missing, not corrupt.
    const fresh = await tempDir();
    await writeFile(join(fresh, 'state.json.4242.tmp'), torn);
    assert.equal((await new StateFile(fresh).load()).kind, 'missing');

    // The next save is whole, whatever lies around.
    const next = switched();
    await store.save(next);
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: next });
  });

  test('concurrent saves: never a torn or missing file, and the last call wins', async () => {
    const dir = await tempDir();
    const store = new StateFile(dir);
    await store.save(state({ epoch: 0 }));

    // States of very different sizes, so that an interleaved write would show as garbage.
    const states = Array.from({ length: 40 }, (_, index) =>
      state({
        epoch: index + 1,
        failover:
          index % 3 === 0
            ? record({
                timeline: Array.from({ length: (index % 7) * 50 }, (_unused, n) => ({
                  step: `step-${n}`,
                  at: '2026-03-01T12:00:00.000Z',
                })),
              })
            : null,
      }),
    );

    // A reader polls throughout: every load sees a whole state, old or new.
    let reading = true;
    const seen: string[] = [];
    const reader = (async () => {
      while (reading) {
        const result = await store.load();
        seen.push(result.kind === 'corrupt' ? `corrupt: ${result.why}` : result.kind);
      }
    })();

    const results = await Promise.allSettled(states.map((each) => store.save(each)));
    reading = false;
    await reader;

    assert.deepEqual(
      results.filter((result) => result.status === 'rejected'),
      [],
      'every save succeeded',
    );
    assert.ok(seen.length > 0, 'the reader ran');
    assert.deepEqual(
      seen.filter((kind) => kind !== 'ok'),
      [],
      'no load saw a torn or missing file',
    );
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: states.at(-1) });
    assert.deepEqual(await readdir(dir), ['state.json'], 'no temp file left behind');
  });

  test('two stores on one directory (a restarted engine, same process) do not collide', async () => {
    const dir = await tempDir();
    const first = new StateFile(dir);
    const second = new StateFile(dir);
    const mine = Array.from({ length: 20 }, (_, index) => state({ epoch: index }));
    const theirs = Array.from({ length: 20 }, (_, index) => switched({ id: `other-${index}` }));
    const results = await Promise.allSettled([
      ...mine.map((each) => first.save(each)),
      ...theirs.map((each) => second.save(each)),
    ]);
    assert.deepEqual(
      results.filter((result) => result.status === 'rejected'),
      [],
      'every save succeeded',
    );
    const loaded = await first.load();
    assert.equal(loaded.kind, 'ok');
    assert.ok(loaded.kind === 'ok', 'narrowing');
    // Each store's own calls land in order: what remains is one of the two last states.
    assert.ok(
      [mine.at(-1), theirs.at(-1)].some(
        (each) => JSON.stringify(each) === JSON.stringify(loaded.state),
      ),
      `last state on disk: epoch ${loaded.state.epoch}`,
    );
    assert.deepEqual(await readdir(dir), ['state.json'], 'no temp file left behind');
  });

  test('saves issued together land in call order', async () => {
    const dir = await tempDir();
    const store = new StateFile(dir);
    const big = state({
      epoch: 1,
      failover: record({
        timeline: Array.from({ length: 2000 }, (_, n) => ({ step: `s${n}`, at: 'x' })),
      }),
    });
    const small = state({ epoch: 2 });
    // The big write takes longer; it must still not land after the small one issued later.
    await Promise.all([store.save(big), store.save(small)]);
    assert.deepEqual(await store.load(), { kind: 'ok', file: store.file, state: small });
  });

  // Tests run as root, and chmod does not stop root: a read-only directory cannot be made here.
  // Two failures that do stop root stand in for it: a directory where state.json must go (the
  // rename fails after the temp file is whole) and a file size limit (the write itself fails
  // half way, as on a full disk).
  test('a failed write (a directory in the way) leaves no temp file, and status shows it until a write succeeds', async () => {
    const dir = await tempDir();
    const store = new StateFile(dir);
    await store.save(state({ epoch: 1 }));
    await rm(store.file);
    await mkdir(join(store.file, 'blocker'), { recursive: true });

    for (let attempt = 1; attempt <= 3; attempt += 1) {
      await assert.rejects(store.save(state({ epoch: 2 })), { code: 'RBUDDY_ERR_STATE_WRITE' });
    }
    assert.deepEqual(await readdir(dir), ['state.json'], 'no temp file per retry');
    assert.equal(new StateFile(dir).status().writable, true, 'a fresh store has no failure');
    const failing = store.status();
    assert.equal(failing.writable, false);
    assert.equal(failing.failedWrites, 3);
    assert.equal(failing.lastWriteError?.code, 'EISDIR');
    assert.match(failing.lastWriteError?.message ?? '', /state\.json/);

    await rmdir(join(store.file, 'blocker'));
    await rmdir(store.file);
    await store.save(state({ epoch: 2 }));
    assert.equal(store.status().writable, true);
    assert.equal(store.status().failedWrites, 3, 'the count is since start');
    assert.deepEqual(await store.load(), {
      kind: 'ok',
      file: store.file,
      state: state({ epoch: 2 }),
    });
  });

  test('a write that fails half way (file size limit, as a full disk) leaves no temp file', async () => {
    const dir = await tempDir();
    // A child process with a 1 KiB file size limit (SIGXFSZ ignored, so write() fails with
    // EFBIG) saves a state of several KiB.
    const script = `
      import { readdir } from 'node:fs/promises';
      import { StateFile } from './src/standby/state-file.ts';
      const store = new StateFile(${JSON.stringify(dir)});
      const big = ${JSON.stringify(state({ failover: record({ timeline: Array.from({ length: 100 }, (_, n) => ({ step: `s${n}`, at: 'x' })) }) }))};
      let code = null;
      for (let attempt = 0; attempt < 3; attempt += 1) {
        await store.save(big).catch((error) => { code = error.code; });
      }
      console.log(JSON.stringify({ code, status: store.status(), files: await readdir(${JSON.stringify(dir)}) }));
    `;
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        'bash',
        [
          '-c',
          `trap '' XFSZ; ulimit -f 1; exec "${process.execPath}" --import tsx --input-type=module -e "$0"`,
          script,
        ],
        { cwd: root, env: { ...process.env, TSX_DISABLE_CACHE: '1' }, timeout: 30_000 },
        (error, out, err) =>
          error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`)),
      );
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      code: string;
      status: { writable: boolean; failedWrites: number; lastWriteError: { code: string } };
      files: string[];
    };
    assert.equal(result.code, 'RBUDDY_ERR_STATE_WRITE');
    assert.equal(result.status.writable, false);
    assert.equal(result.status.failedWrites, 3);
    assert.equal(result.status.lastWriteError.code, 'EFBIG');
    assert.deepEqual(result.files, [], 'no temp file per retry');
  });
});
