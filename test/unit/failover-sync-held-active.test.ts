// Whether the proxy answers the active's sync -NOMASTERLINK (syncHeld): only once the failover
// record says the active, back empty, is held; never the active of a healthy pair or of a
// planned failover (it still streams), and after the switch it is the standby's rule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACTIVE_HELD, syncHeld } from '../../src/standby/persisted-state.js';
import { A, B, during, iso, NOW, steady } from '../helpers/decide-fixtures.js';

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
  it('after the switch it is the standby, held as such', () => {
    const persisted = during('switched');
    persisted.failover?.timeline.push(heldEntry);
    assert.equal(syncHeld(persisted, A, undefined), true);
    assert.equal(syncHeld(persisted, B, undefined), false);
  });
});
