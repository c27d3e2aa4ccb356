// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): every step of
// the persisted record has rows, and every engine state is reached.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ENGINE_STATES } from '../../src/standby/states.js';
import { steadyRows } from './failover-decide-rows/steady.js';
import { firstStartRows } from './failover-decide-rows/first-start.js';
import { promotionRows } from './failover-decide-rows/promotion.js';
import { heldRows } from './failover-decide-rows/held.js';
import { switchedRows } from './failover-decide-rows/switched.js';
import { rolledBackRows } from './failover-decide-rows/rolled-back.js';

const rows = [
  ...steadyRows,
  ...firstStartRows,
  ...promotionRows,
  ...heldRows,
  ...switchedRows,
  ...rolledBackRows,
];

describe('decide(): state × observation table', () => {
  test('every step of the persisted record has rows, and every engine state is reached', () => {
    const steps = new Set(rows.map((row) => row.persisted.failover?.step ?? 'none'));
    assert.deepEqual(
      [...steps].sort(),
      ['aborted', 'held', 'none', 'promoting', 'switched', 'syncing'].sort(),
    );
    const states = new Set(rows.map((row) => row.state));
    assert.deepEqual([...states].sort(), [...ENGINE_STATES].sort());
  });
});
