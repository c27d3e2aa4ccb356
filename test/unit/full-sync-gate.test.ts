// The full-sync gate's decision (I1, docs/design.md, "The gate"), on the master's reply.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gateFullSync } from '../../src/standby/full-sync-gate.js';
import { A, B, steady, firstStart } from '../helpers/decide-fixtures.js';

describe('gateFullSync', () => {
  test('state unknown: closed for everyone', () => {
    assert.equal(gateFullSync(undefined, A, false).relay, false);
    assert.equal(gateFullSync(undefined, B, false).relay, false);
  });

  test('the active that holds data: closed, and a failover is demanded', () => {
    const verdict = gateFullSync(steady(), A, false);
    assert.deepEqual(verdict.relay ? undefined : verdict.demanded, true);
  });

  test("the active's first sync is relayed", () => {
    assert.equal(gateFullSync(firstStart(), A, false).relay, true);
  });

  test('a node whose sync is held is closed without demanding a failover', () => {
    const verdict = gateFullSync(steady(), B, true);
    assert.equal(verdict.relay, false);
    assert.equal(verdict.relay ? undefined : verdict.demanded, false);
  });

  test('the standby released for its sync is relayed', () => {
    assert.equal(gateFullSync(steady(), B, false).relay, true);
  });
});
