// Whether an instance may campaign on its --announce (src/ha/announce-check.ts): what one check
// concludes from the answers at the --announce and at its own listener, when a follower may
// campaign, when a leader keeps leading (reporting) and when it steps down, and that a verdict is
// logged once per change, not at every check.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { AddressVerdict } from '../../src/ha/address-check.js';
import {
  AnnounceCheck,
  gate,
  NO_CHECKS,
  selfCheckOf,
  STEP_DOWN_CHECKS,
  withCheck,
  type CheckHistory,
  type SelfCheck,
  type Transport,
} from '../../src/ha/announce-check.js';

const OWN = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const ANNOUNCE = '10.0.1.1:6380';
const LEASE = 3000;

const instance: AddressVerdict = { kind: 'instance' };
const refused: AddressVerdict = {
  kind: 'gone',
  why: 'connect ECONNREFUSED 10.0.1.1:6380',
  refused: true,
};
const timedOut: AddressVerdict = { kind: 'gone', why: 'connect ETIMEDOUT' };
const closed: AddressVerdict = { kind: 'unknown', why: 'Connection is closed.' };
const otherId: AddressVerdict = { kind: 'foreign', why: `SENTINEL myid: "${OTHER}"`, id: OTHER };
const redis: AddressVerdict = {
  kind: 'foreign',
  why: 'SENTINEL myid: ERR unknown command \'SENTINEL\', ROLE "master"',
};
const sameAnnounce: AddressVerdict = {
  kind: 'foreign',
  why: 'INFO run_id "c", not this process\'s',
  id: OWN,
};
const certRefused: AddressVerdict = {
  kind: 'foreign',
  why: 'SENTINEL myid: ERR rbuddy: client certificate refused: TLS handshake failed (INVALID_PURPOSE)',
};

function one(announce: AddressVerdict, own?: AddressVerdict, transport: Transport = 'plain') {
  return selfCheckOf([{ transport, announce, own }], OWN);
}

describe('one check of the --announce', () => {
  test('answered as this process: self, whatever else was asked', () => {
    assert.deepEqual(one(instance), { kind: 'self' });
    const both = selfCheckOf(
      [
        { transport: 'tls', announce: certRefused },
        { transport: 'plain', announce: instance },
      ],
      OWN,
    );
    assert.deepEqual(both, { kind: 'self' });
  });

  test('nothing there, the own listener answering: elsewhere, definite when refused', () => {
    const dead = one(refused, instance);
    assert.equal(dead.kind, 'elsewhere');
    assert.ok(dead.kind === 'elsewhere' && dead.definite);
    assert.match(
      dead.kind === 'elsewhere' ? dead.answered : '',
      /^nothing answers there \(.*ECONNREFUSED/,
    );
    const slow = one(timedOut, instance);
    assert.ok(slow.kind === 'elsewhere' && !slow.definite, 'a timeout is not evidence');
    const cut = one(closed, instance);
    assert.ok(cut.kind === 'elsewhere' && !cut.definite);
    assert.match(cut.kind === 'elsewhere' ? cut.answered : '', /^no answer could be read there/);
  });

  test('another id, another server, another process with this --announce: each named', () => {
    const id = one(otherId, instance);
    assert.ok(id.kind === 'elsewhere' && id.definite && id.what === 'another-id');
    assert.match(
      id.answered,
      new RegExp(
        `^another id answers there \\(SENTINEL myid ${OTHER}; this instance's is ${OWN}\\)`,
      ),
    );
    const server = one(redis, instance);
    assert.ok(server.kind === 'elsewhere' && server.what === 'not-rbuddy');
    assert.match(
      server.answered,
      /^something that is not an rbuddy of this group answers there \(.*ROLE "master"/,
    );
    const twin = one(sameAnnounce, instance);
    assert.ok(twin.kind === 'elsewhere' && twin.what === 'another-process');
    assert.match(twin.answered, /^another process with this instance's --announce answers there/);
  });

  test('the own listener refuses the check itself: uncheckable, saying why', () => {
    const verdict = one(certRefused, certRefused, 'tls');
    assert.equal(verdict.kind, 'uncheckable');
    assert.match(
      verdict.kind === 'uncheckable' ? verdict.why : '',
      /own listener does not answer the check as this instance \(tls: .*client certificate refused/,
    );
  });

  test('the own listener full (--max-clients): inconclusive, never a skip over a dead --announce', () => {
    // Before, any refusal of the own listener was "skipped": filling it made an instance with a
    // dead --announce campaign, lead and point the active at the dead port.
    const full: AddressVerdict = {
      kind: 'foreign',
      why: 'ERR max number of clients reached',
    };
    assert.equal(one(refused, full).kind, 'inconclusive');
    // A definite answer at the --announce is never overridden by a skip by design either.
    assert.equal(one(refused, certRefused, 'tls').kind, 'inconclusive');
  });

  test('the --announce refusing at its limit (this instance full, through a NAT): no evidence', () => {
    // Before, it counted as "another server there" and a healthy leader stepped down under load.
    const full: AddressVerdict = {
      kind: 'foreign',
      why: 'SENTINEL myid: ERR max number of clients reached',
    };
    const verdict = one(full, instance);
    assert.ok(verdict.kind === 'elsewhere' && !verdict.definite, JSON.stringify(verdict));
    assert.equal(verdict.kind === 'elsewhere' ? verdict.what : '', 'at-limit');
    assert.match(verdict.kind === 'elsewhere' ? verdict.answered : '', /load, not evidence/);
  });

  test('a TLS listener refusing its own certificate, a plain one beside it: skipped, not failing', () => {
    // The --announce is the TLS listener: over TLS it refuses the check as the own TLS listener
    // does; in plain it cannot be read (a TLS port); the own plain listener answers. Before, that
    // was "elsewhere" and no instance of such a group ever led.
    const verdict = selfCheckOf(
      [
        { transport: 'tls', announce: certRefused, own: certRefused },
        { transport: 'plain', announce: closed, own: instance },
      ],
      OWN,
    );
    assert.equal(verdict.kind, 'uncheckable', JSON.stringify(verdict));
    assert.match(
      verdict.kind === 'uncheckable' ? verdict.why : '',
      /\(tls: .*client certificate refused/,
    );
    // But another server answering in plain there is evidence: elsewhere, definite.
    const other = selfCheckOf(
      [
        { transport: 'tls', announce: certRefused, own: certRefused },
        { transport: 'plain', announce: otherId, own: instance },
      ],
      OWN,
    );
    assert.ok(other.kind === 'elsewhere' && other.definite, JSON.stringify(other));
  });

  test('the own listener silent too: inconclusive, never uncheckable', () => {
    assert.equal(one(refused, closed).kind, 'inconclusive');
    assert.equal(one(refused, timedOut).kind, 'inconclusive');
    assert.equal(selfCheckOf([], OWN).kind, 'inconclusive');
  });
});

function history(checks: ReadonlyArray<readonly [SelfCheck, number]>): CheckHistory {
  return checks.reduce((h, [check, at]) => withCheck(h, check, at), NO_CHECKS);
}

const self: SelfCheck = { kind: 'self' };
const dead: SelfCheck = {
  kind: 'elsewhere',
  answered: 'nothing answers there (connect ECONNREFUSED)',
  what: 'nothing',
  definite: true,
};
const slow: SelfCheck = {
  kind: 'elsewhere',
  answered: 'nothing answers there (connect ETIMEDOUT)',
  what: 'nothing',
  definite: false,
};

describe('who may campaign', () => {
  const follower = (h: CheckHistory, now = 0) =>
    gate(h, { announce: ANNOUNCE, leading: false, now, leaseMs: LEASE });
  const leader = (h: CheckHistory, now: number) =>
    gate(h, { announce: ANNOUNCE, leading: true, now, leaseMs: LEASE });

  test('not checked yet (listeners not open): no campaign, nothing reported', () => {
    assert.deepEqual(follower(NO_CHECKS), { campaign: false, problem: null });
  });

  test('answered as itself, or not checkable here: campaigns, nothing reported', () => {
    assert.deepEqual(follower(history([[self, 0]])), { campaign: true, problem: null });
    const skipped: SelfCheck = { kind: 'uncheckable', why: 'tls: refused' };
    assert.deepEqual(follower(history([[skipped, 0]])), { campaign: true, problem: null });
  });

  test('a follower whose --announce fails does not campaign, and says what answered', () => {
    const inconclusive: SelfCheck = { kind: 'inconclusive', why: 'x' };
    // Evidence against it after a success; or no evidence, but never found there either.
    for (const h of [
      history([
        [self, 0],
        [dead, 1000],
      ]),
      history([[slow, 1000]]),
      history([[inconclusive, 1000]]),
      history([
        [dead, 0],
        [self, 500],
        [dead, 800],
        [slow, 1000],
      ]),
    ]) {
      const verdict = follower(h, 1000);
      assert.equal(verdict.campaign, false);
      assert.match(
        verdict.problem ?? '',
        /^--announce 10\.0\.1\.1:6380 does not reach this instance: .*not campaigning until it does/,
      );
    }
  });

  test('found there once, then no evidence (a flood at --max-clients, timeouts): it still campaigns, not degraded', () => {
    // A stranger filling the follower's listener must not keep it from taking over (round 5, F1).
    const atLimit: SelfCheck = {
      kind: 'inconclusive',
      why: 'the server there refuses connections at a limit of its own: load, not evidence',
    };
    for (const noEvidence of [slow, atLimit]) {
      const h = history([
        [self, 0],
        [noEvidence, 1000],
        [noEvidence, 2000],
      ]);
      assert.deepEqual(follower(h, 2000), { campaign: true, problem: null });
      assert.deepEqual(leader(h, 60_000), { campaign: true, problem: null });
    }
  });

  test('a leader reports at once, and keeps leading while the failure is short', () => {
    const h = history([
      [dead, 0],
      [dead, 600],
    ]);
    const verdict = leader(h, 10_000);
    assert.equal(verdict.campaign, true);
    assert.match(
      verdict.problem ?? '',
      /does not reach this instance: nothing answers there.*still leading/,
    );
  });

  test(`a leader steps down after ${STEP_DOWN_CHECKS} definite failures in a row over a lease`, () => {
    const checks: Array<readonly [SelfCheck, number]> = [];
    for (let i = 0; i < STEP_DOWN_CHECKS; i += 1) checks.push([dead, i * 600]);
    const h = history(checks);
    assert.equal(leader(h, (STEP_DOWN_CHECKS - 1) * 600).campaign, true, 'not a lease yet');
    const verdict = leader(h, LEASE);
    assert.equal(verdict.campaign, false);
    assert.match(verdict.problem ?? '', /stepped down/);
    // Many checks within less than a lease: still leading.
    const quick = history(Array.from({ length: 10 }, (_, i) => [dead, i * 100] as const));
    assert.equal(leader(quick, 999).campaign, true);
  });

  test('a flapping network never steps a leader down: timeouts are no evidence, a success resets', () => {
    // Timeouts for minutes: reported, still leading.
    const timeouts = history(Array.from({ length: 100 }, (_, i) => [slow, i * 600] as const));
    assert.equal(leader(timeouts, 60_000).campaign, true);
    // Refused, answered, refused…: never three in a row.
    const flapping = history(
      Array.from({ length: 30 }, (_, i) => [i % 3 === 2 ? self : dead, i * 600] as const),
    );
    assert.equal(leader(flapping, 30 * 600).campaign, true);
    // A timeout between definite failures neither counts nor resets the run.
    const mixed = history([
      [dead, 0],
      [slow, 1000],
      [dead, 2000],
      [dead, 3000],
    ]);
    assert.equal(leader(mixed, 3000).campaign, false);
  });

  test('stepped down, it campaigns again only once its --announce answers as itself', () => {
    const down = history([
      [dead, 0],
      [dead, 1500],
      [dead, 3000],
    ]);
    assert.equal(follower(down, 3000).campaign, false);
    assert.equal(follower(withCheck(down, slow, 4000), 4000).campaign, false);
    assert.equal(follower(withCheck(down, self, 4000), 4000).campaign, true);
  });
});

describe('AnnounceCheck', () => {
  function rig(answers: Map<string, AddressVerdict[]>) {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({}, { write: (line: string) => lines.push(JSON.parse(line) as never) });
    const asked: string[] = [];
    const check = new AnnounceCheck({
      announce: ANNOUNCE,
      ownId: OWN,
      listeners: () => [
        { transport: 'tls', address: '127.0.0.1:6390' },
        { transport: 'plain', address: '127.0.0.1:6380' },
      ],
      ask: (address, transport) => {
        asked.push(`${transport} ${address}`);
        const queue = answers.get(`${transport} ${address}`) ?? [];
        return Promise.resolve(
          queue.length > 1 ? (queue.shift() as AddressVerdict) : (queue[0] ?? refused),
        );
      },
      intervalMs: 600,
      leaseMs: LEASE,
      logger,
    });
    return { check, lines, asked };
  }

  test('the announce over TLS first; the own listeners asked only when it is not this instance', async () => {
    const { check, asked } = rig(new Map([[`tls ${ANNOUNCE}`, [instance]]]));
    assert.deepEqual(await check.checkOnce(), { kind: 'self' });
    assert.deepEqual(asked, [`tls ${ANNOUNCE}`]);
    assert.equal(check.status().state, 'verified');
  });

  test('a wrong --announce: failing with what answered, logged once while it lasts', async () => {
    const { check, lines, asked } = rig(
      new Map([
        [`tls ${ANNOUNCE}`, [refused]],
        [`plain ${ANNOUNCE}`, [refused]],
        ['tls 127.0.0.1:6390', [instance]],
        ['plain 127.0.0.1:6380', [instance]],
      ]),
    );
    assert.equal(check.status().state, 'pending');
    for (let i = 0; i < 5; i += 1) await check.checkOnce();
    assert.deepEqual(asked.slice(0, 4), [
      `tls ${ANNOUNCE}`,
      `plain ${ANNOUNCE}`,
      'tls 127.0.0.1:6390',
      'plain 127.0.0.1:6380',
    ]);
    const status = check.status();
    assert.equal(status.state, 'failing');
    assert.match(status.detail ?? '', /^nothing answers there/);
    assert.equal(check.verdict(false).campaign, false);
    const logged = lines.filter((line) => /does not reach this instance/.test(line.msg));
    assert.equal(logged.length, 1, JSON.stringify(lines));
  });

  test('each change is logged: failing, then reaching, then skipped', async () => {
    const { check, lines } = rig(
      new Map([
        [`tls ${ANNOUNCE}`, [closed, refused, instance, certRefused]],
        [`plain ${ANNOUNCE}`, [closed, refused, certRefused]],
        ['tls 127.0.0.1:6390', [instance, instance, certRefused]],
        ['plain 127.0.0.1:6380', [instance, instance, certRefused]],
      ]),
    );
    await check.checkOnce(); // no answer
    await check.checkOnce(); // refused: the same "nothing answers", not logged again
    await check.checkOnce(); // this instance
    await check.checkOnce(); // the own listeners refuse the check
    assert.equal(check.status().state, 'skipped');
    assert.equal(check.verdict(false).campaign, true);
    const messages = lines.map((line) => line.msg);
    assert.equal(messages.filter((msg) => /does not reach this instance/.test(msg)).length, 1);
    assert.equal(
      messages.filter((msg) => /reaches this instance/.test(msg) && !/not/.test(msg)).length,
      1,
    );
    assert.equal(messages.filter((msg) => /^--announce not checked/.test(msg)).length, 1);
  });
});
