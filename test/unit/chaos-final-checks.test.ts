// The chaos run's final checks that judge the run itself (chaos/final-checks.ts), with a real
// Checker and History and a topology reduced to what they read: a webhook id acknowledged twice
// is a violation unless rbuddy was killed or stopped in between (before, every repeat was only
// counted as "information"); a run whose writer died, or that injected no fault or checked no
// read, proves nothing and fails (before, it passed with 0 violations).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Checker } from '../../chaos/checker.js';
import { runWasReal, webhookRepeats } from '../../chaos/final-checks.js';
import { History } from '../../chaos/history.js';
import type { ChaosTopology } from '../../chaos/topology.js';
import type { Attempt } from '../../harness/webhook-receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'rbuddy-chaos-final-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

function checker(): Checker {
  runs += 1;
  return new Checker(new History(join(dir, `history-${runs}.jsonl`)));
}

function ack(id: string, at: number, answered: number | 'hang' = 204): Attempt {
  return {
    id,
    timestamp: '0',
    signature: '',
    contentType: 'application/json',
    body: '{}',
    verified: true,
    answered,
    at,
  };
}

function topology(parts: {
  attempts?: Attempt[];
  writer?: { exitCode: number | null; signalCode: string | null } | undefined;
}): ChaosTopology {
  return {
    receiver: { attempts: parts.attempts ?? [] },
    writer: 'writer' in parts ? parts.writer : { exitCode: null, signalCode: null },
  } as unknown as ChaosTopology;
}

describe('webhook ids acknowledged once', () => {
  test('a repeat with no kill or stop of rbuddy in between: a violation', () => {
    const c = checker();
    const start = Date.now() - c.history.now();
    webhookRepeats(topology({ attempts: [ack('e1', start + 1000), ack('e1', start + 5000)] }), c);
    assert.equal(c.violations.length, 1);
    assert.match(c.violations[0]?.message ?? '', /event e1 acknowledged again/);
  });

  test('a repeat across a kill or a stop of rbuddy (at-least-once): held', () => {
    const c = checker();
    const start = Date.now() - c.history.now();
    c.history.record('fault-start', 'rbuddy', { t: 3000, data: { fault: 'kill-rbuddy' } });
    // Killed a moment after the receiver answered (before rbuddy read the answer): excused too.
    c.history.record('fault-start', 'rbuddy', { t: 9500, data: { fault: 'stop-rbuddy' } });
    webhookRepeats(
      topology({
        attempts: [
          ack('e1', start + 1000),
          ack('e1', start + 5000),
          ack('e2', start + 10_000),
          ack('e2', start + 20_000),
        ],
      }),
      c,
    );
    assert.deepEqual(c.violations, []);
    assert.equal(
      c.checks.get(
        'a webhook id acknowledged once (a repeat only across a kill or stop of rbuddy)',
      ),
      2,
    );
  });

  test('a fault of another process, a planned switch, or a failed attempt, excuses nothing and counts nothing', () => {
    const c = checker();
    const start = Date.now() - c.history.now();
    c.history.record('fault-start', 'master', { t: 3000, data: { fault: 'kill-master-rdb' } });
    // A planned switch is recorded on node rbuddy, and cannot make rbuddy send an id twice.
    c.history.record('fault-start', 'rbuddy', { t: 3500, data: { fault: 'planned-switch' } });
    webhookRepeats(
      topology({
        attempts: [ack('e1', start + 1000, 503), ack('e1', start + 2000), ack('e1', start + 5000)],
      }),
      c,
    );
    assert.equal(c.violations.length, 1);
  });
});

describe('the run proves something', () => {
  test('the writer alive, faults injected, reads checked: held', () => {
    const c = checker();
    c.faults.set('kill-active', 1);
    c.check('I1 the active answers with the data', true);
    runWasReal(topology({}), c);
    assert.deepEqual(c.violations, []);
  });

  test('the writer dead: a violation', () => {
    const c = checker();
    c.faults.set('kill-active', 1);
    c.check('I1 the active answers with the data', true);
    runWasReal(topology({ writer: { exitCode: null, signalCode: 'SIGKILL' } }), c);
    assert.deepEqual(
      c.violations.map((v) => v.invariant),
      ['the steady writer wrote throughout'],
    );
  });

  test('no fault, or no read checked: a violation', () => {
    const none = checker();
    none.check('I1 the active answers with the data', true);
    runWasReal(topology({}), none);
    assert.deepEqual(
      none.violations.map((v) => v.invariant),
      ['the run tested something'],
    );
    const unread = checker();
    unread.faults.set('flood', 3);
    runWasReal(topology({}), unread);
    assert.match(unread.violations[0]?.message ?? '', /3 faults injected, 0 reads/);
  });
});
