// The webhook outbox read back from disk: entries come back in sequence order with their exact
// bytes; a file that is not an event of ours (torn JSON, a foreign object, an unknown type, a
// bad epoch or data) is reported and set aside as <name>.corrupt, never delivered, and its
// sequence number is not reused; leftover temp files are removed.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import type { RbuddyEvent } from '../../src/notify/events.js';
import { Outbox } from '../../src/notify/outbox.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rbuddy-outbox-test-'));
  dirs.push(dir);
  return dir;
}

/** A logger whose warnings land in `warnings` (the parsed JSON lines). */
function capturingLogger(): { logger: pino.Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    {
      write(line: string) {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          warnings.push(Object.fromEntries(Object.entries(parsed)));
        }
      },
    },
  );
  return { logger, warnings };
}

function event(n: number, extra: Partial<RbuddyEvent> = {}): RbuddyEvent {
  return {
    id: `id-${n}`,
    type: 'failover.completed',
    timestamp: '2026-01-01T00:00:00.000Z',
    group: 'g',
    epoch: n,
    data: { active: 'a:1', standby: 'b:2', master: 'm:3', reason: 'planned' },
    ...extra,
  };
}

function entryName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.json`;
}

const good = (n: number): string => JSON.stringify(event(n));

const corrupt: { name: string; body: string }[] = [
  { name: 'torn JSON', body: good(1).slice(0, 20) },
  { name: 'a JSON array', body: '[1,2,3]' },
  { name: 'JSON null', body: 'null' },
  { name: 'a foreign object', body: '{"hello":"world"}' },
  { name: 'a numeric id', body: JSON.stringify({ ...event(1), id: 5 }) },
  { name: 'an unknown type', body: JSON.stringify({ ...event(1), type: 'master.exploded' }) },
  { name: 'a string epoch', body: JSON.stringify({ ...event(1), epoch: '3' }) },
  { name: 'a negative epoch', body: JSON.stringify({ ...event(1), epoch: -1 }) },
  { name: 'no data', body: JSON.stringify({ ...event(1), data: undefined }) },
  {
    name: 'data without master',
    body: JSON.stringify({ ...event(1), data: { active: 'a:1', standby: 'b:2' } }),
  },
  {
    name: 'a numeric reason',
    body: JSON.stringify({ ...event(1), data: { ...event(1).data, reason: 7 } }),
  },
];

for (const { name, body } of corrupt) {
  test(`${name}: reported and set aside, the other entries come back in order`, async () => {
    const dir = await tempDir();
    await writeFile(join(dir, entryName(3)), good(3));
    await writeFile(join(dir, entryName(5)), body);
    await writeFile(join(dir, entryName(7)), good(7));
    const { logger, warnings } = capturingLogger();
    const outbox = new Outbox(dir, logger);

    const entries = await outbox.load();

    assert.deepEqual(
      entries.map((entry) => [entry.seq, entry.event.id, entry.body]),
      [
        [3, 'id-3', good(3)],
        [7, 'id-7', good(7)],
      ],
    );
    assert.deepEqual(entries[0]?.event, event(3));
    assert.deepEqual((await readdir(dir)).sort(), [
      entryName(3),
      `${entryName(5)}.corrupt`,
      entryName(7),
    ]);
    assert.equal(await readFile(join(dir, `${entryName(5)}.corrupt`), 'utf8'), body);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.msg, 'unreadable outbox entry set aside');
    assert.equal(warnings[0]?.file, join(dir, entryName(5)));
  });
}

test('after a corrupt last entry, new events take later numbers (none overwritten)', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, entryName(4)), '{not json');
  await writeFile(join(dir, `${entryName(9)}.tmp`), good(9));
  const outbox = new Outbox(dir, capturingLogger().logger);

  assert.deepEqual(await outbox.load(), []);
  const added = outbox.add(event(10));
  assert.ok(added !== undefined);
  await added.persisted;

  assert.equal(added.seq, 5);
  assert.deepEqual((await readdir(dir)).sort(), [`${entryName(4)}.corrupt`, entryName(5)]);
});

test('an event read back is known: adding the same id again stores nothing', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, entryName(0)), good(0));
  const outbox = new Outbox(dir, capturingLogger().logger);
  assert.equal((await outbox.load()).length, 1);
  assert.equal(outbox.add(event(0)), undefined);
});
