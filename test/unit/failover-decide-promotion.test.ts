// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): a failover
// promoting the outgoing node and syncing the incoming one, and what a hold carries.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide } from '../../src/standby/decide.js';
import { down, replica } from '../helpers/node-views.js';
import { promotionRows } from './failover-decide-rows/promotion.js';
import { A, B, CONFIG, during, promotedAndSynced, tableTests } from '../helpers/decide-fixtures.js';

describe('decide(): state × observation table', () => {
  tableTests(promotionRows);

  test('hold carries the reason, the run_id that synced and both key counts', () => {
    const shrunk = decide(
      during('syncing'),
      promotedAndSynced({ standby: replica(B, { keys: 100 }) }),
      CONFIG,
    );
    assert.deepEqual(shrunk.actions, [
      {
        kind: 'hold',
        reason:
          "the synced standby holds 100 keys, fewer than 0.5 of the active's 1000 (--guard-shrink)",
        syncedRunId: `run-${B}`,
        activeKeys: 1000,
        standbyKeys: 100,
      },
    ]);
    const unknown = decide(
      during('syncing'),
      promotedAndSynced({ active: down(A), standby: replica(B, { keys: 0 }) }),
      CONFIG,
    );
    assert.deepEqual(
      unknown.actions.map((action) => action.kind === 'hold' && action.activeKeys),
      [null],
    );
  });
});
