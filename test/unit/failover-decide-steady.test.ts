// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): steady, the
// active holding its data: each row names the expected state and the exact actions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide } from '../../src/standby/decide.js';
import { steadyRows } from './failover-decide-rows/steady.js';
import { CONFIG, healthy, NOW, steady, tableTests } from '../helpers/decide-fixtures.js';

describe('decide(): state × observation table', () => {
  tableTests(steadyRows);

  test('begin-failover carries its reason; planned only on an operator request', () => {
    const lost = decide(
      steady(),
      healthy({ masterUp: false, masterLostSince: NOW - 4000 }),
      CONFIG,
    );
    assert.deepEqual(lost.actions, [
      {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason: 'the master has been unreachable for 4000 ms (grace 1000 ms)',
      },
    ]);
    const demanded = decide(steady(), healthy({ fullResyncDemanded: true }), CONFIG);
    assert.deepEqual(demanded.actions, [
      {
        kind: 'begin-failover',
        failoverKind: 'unplanned',
        reason: 'the master demanded a full resync of the active',
      },
    ]);
  });
});
