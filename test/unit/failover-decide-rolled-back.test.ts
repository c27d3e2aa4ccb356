// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): a state older
// than the nodes (a backup restored after a switch).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide } from '../../src/standby/decide.js';
import { rolledBackRows } from './failover-decide-rows/rolled-back.js';
import { CONFIG, rolledBackNodes, steady, tableTests } from '../helpers/decide-fixtures.js';

describe('decide(): state × observation table', () => {
  tableTests(rolledBackRows);

  test('the adoption carries the reason that names both nodes and what the state says', () => {
    const { actions, reason } = decide(steady(), rolledBackNodes(), CONFIG);
    assert.deepEqual(actions, [{ kind: 'adopt-nodes-roles', reason, promoted: false }]);
    assert.match(
      reason ?? '',
      /names 10\.0\.0\.5:6379 the active holding the data and 10\.0\.0\.6:6379 the idle standby \(epoch 7\)/,
    );
    assert.match(reason ?? '', /10\.0\.0\.6:6379 is adopted as the active, epoch 8/);
  });
});
