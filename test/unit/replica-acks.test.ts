// The ACK watch on a replica's link, with a fake clock: lagMs is the age of the oldest byte
// relayed and not acknowledged, so an ACK that stands still while the stream moves (a replica
// that stopped applying it, reviewer R11c's P1) shows as a growing lag and one warning a minute.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { BEHIND_WARN_MS, MARK_MS, ReplicaAcks } from '../../src/proxy/replica-acks.js';

const silent = pino({ level: 'silent' });

function ack(offset: number): Buffer {
  const o = String(offset);
  return Buffer.from(`*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$${o.length}\r\n${o}\r\n`);
}

function rig(logger = silent) {
  let now = 1_000_000;
  const acks = new ReplicaAcks({ ack: () => undefined, sync: () => undefined }, logger, () => now);
  return {
    acks,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('no lag before the first ACK, none once everything relayed is acknowledged', () => {
  const { acks, advance } = rig();
  acks.relayed(100);
  advance(5_000);
  assert.equal(acks.lagMs(), null, 'a replica loading its snapshot has not ACKed yet');
  acks.read(ack(100));
  assert.equal(acks.lagMs(), 0);
  advance(60_000);
  assert.equal(acks.lagMs(), 0, 'an idle stream is no lag');
});

test('an ACK that stands still while the stream moves is a growing lag', () => {
  const { acks, advance } = rig();
  acks.relayed(100);
  acks.read(ack(100));
  // The stream goes on, the replica keeps ACKing 100 once a second.
  for (let second = 1; second <= 25; second++) {
    for (let tick = 0; tick < 10; tick++) {
      advance(100);
      acks.relayed(100 + second * 1_000 + tick);
    }
    acks.read(ack(100));
  }
  const lag = acks.lagMs() ?? -1;
  assert.ok(lag >= 25_000 - 100 - MARK_MS && lag <= 25_000, `lag ${lag} ms after 25 s`);
  // It applies everything at last.
  acks.read(ack(100 + 25 * 1_000 + 9));
  assert.equal(acks.lagMs(), 0);
});

test('under a steady stream the lag is about the ACK interval, within MARK_MS', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 5, maxLength: 200 }),
      fc.integer({ min: 0, max: 3_000 }),
      (gaps, delay) => {
        // Chunks relayed after `gaps`; the replica ACKs, `delay` ms later, what was relayed.
        const { acks, advance } = rig();
        const relayedAt: { offset: number; at: number }[] = [];
        let offset = 0;
        let clock = 0;
        for (const gap of gaps) {
          advance(gap);
          clock += gap;
          offset += gap;
          acks.relayed(offset);
          relayedAt.push({ offset, at: clock });
        }
        const acked = relayedAt[Math.floor(relayedAt.length / 2)];
        advance(delay);
        clock += delay;
        acks.read(ack(acked.offset));
        // The true lag: the age of the first chunk beyond the ACK.
        const next = relayedAt.find((entry) => entry.offset > acked.offset);
        const truth = next === undefined ? 0 : clock - next.at;
        const lag = acks.lagMs() ?? -1;
        return next === undefined
          ? lag === 0
          : lag <= truth + MARK_MS && lag >= truth - MARK_MS - 400;
      },
    ),
  );
});

test('a replica behind for over 10 s is one warning a minute, the rest counted', () => {
  const lines: { level: number; msg: string; lagMs?: number; suppressed?: number }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
  );
  const { acks, advance } = rig(logger);
  acks.relayed(10);
  acks.read(ack(10));
  for (let second = 1; second <= 90; second++) {
    advance(1_000);
    acks.relayed(10 + second);
    acks.read(ack(10));
  }
  const behind = lines.filter((line) => line.msg.startsWith('the replica has not applied'));
  // The first byte not applied was relayed at second 1: the ACKs of seconds 11 to 90 are late.
  assert.equal(behind.length, 90 - BEHIND_WARN_MS / 1_000, 'every late ACK is logged');
  const warnings = behind.filter((line) => line.level === 40);
  assert.equal(warnings.length, 2, 'at 10 s and a minute later');
  assert.ok((warnings[0].lagMs ?? 0) >= BEHIND_WARN_MS);
  assert.ok((warnings[1].suppressed ?? 0) > 0);
});

test('a stream stalled for longer than the marks kept still shows its full lag', () => {
  const { acks, advance } = rig();
  acks.relayed(1);
  acks.read(ack(1));
  // 20 minutes of marks (twice what is kept), ACKs standing at 1.
  for (let i = 1; i <= 4_800; i++) {
    advance(MARK_MS);
    acks.relayed(1 + i);
  }
  acks.read(ack(1));
  assert.equal(acks.lagMs(), 4_800 * MARK_MS - MARK_MS);
  // Half of it applied: what was relayed after the last mark kept is over-stated, never under.
  acks.read(ack(1 + 2_400));
  const lag = acks.lagMs() ?? -1;
  assert.ok(lag >= 2_400 * MARK_MS - MARK_MS, `lag ${lag}`);
});
