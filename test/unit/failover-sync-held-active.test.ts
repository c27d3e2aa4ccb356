// Whether the proxy answers the active's sync -NOMASTERLINK (syncHeld): once the failover record
// says the active, back empty, is held, or the active is seen held and empty under a new run_id;
// never the active of a healthy pair or of a planned failover (it still streams), and after the
// switch it is the standby's rule. (A hold not recorded yet is the engine's memory:
// failover-engine-active-back-empty.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACTIVE_HELD, syncHeld } from '../../src/standby/persisted-state.js';
import { A, B, during, iso, NOW, steady } from '../helpers/decide-fixtures.js';
import { held, master, replica } from '../helpers/node-views.js';

const heldEntry = { step: ACTIVE_HELD, at: iso(NOW - 1000) };

describe('syncHeld for the active', () => {
  it('a healthy active streams', () => {
    assert.equal(syncHeld(steady(), A, undefined), false);
  });
  it('a failover whose active is not held (promoted, or a planned one) leaves it alone', () => {
    assert.equal(syncHeld(during('syncing'), A, undefined), false);
  });
  it('an active back empty is held once the record says so, through syncing and held', () => {
    for (const step of ['syncing', 'held'] as const) {
      const persisted = during(step);
      const record = persisted.failover;
      assert.ok(record !== null);
      record.timeline.push(heldEntry);
      assert.equal(syncHeld(persisted, A, undefined), true, step);
      assert.equal(syncHeld(persisted, B, undefined), false, `${step}: the incoming syncs`);
    }
  });
  it('an active found held and empty under a new run_id, nothing recorded (the process that held it died first): held', () => {
    const restarted = held(A, { runId: 'run-restarted' });
    assert.equal(syncHeld(steady(), A, restarted), true);
    // Also with its own replica-serve-stale-data yes (a `replicaof` in its config file).
    assert.equal(syncHeld(steady(), A, { ...restarted, servesStaleData: true }), true);
    assert.equal(syncHeld(during('syncing'), A, restarted), true, 'in a failover too');
  });
  it('but not the process that replicated (an empty dataset, its link down), nor one that streams, nor before it is seen', () => {
    assert.equal(syncHeld(steady(), A, held(A)), false, 'the recorded run_id');
    assert.equal(syncHeld(steady({ activeRunId: null }), A, held(A, { runId: 'x' })), false);
    assert.equal(syncHeld(steady(), A, replica(A, { keys: 0, runId: 'run-restarted' })), false);
    assert.equal(syncHeld(steady(), A, held(A, { runId: 'run-restarted', keys: 5 })), false);
    assert.equal(syncHeld(steady(), A, master(A, { runId: 'run-restarted' })), false);
    assert.equal(syncHeld(steady(), A, undefined), false);
  });
  it('after the switch it is the standby, held as such', () => {
    const persisted = during('switched');
    persisted.failover?.timeline.push(heldEntry);
    assert.equal(syncHeld(persisted, A, undefined), true);
    assert.equal(syncHeld(persisted, B, undefined), false);
  });
});
