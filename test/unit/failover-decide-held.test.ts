// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): a failover held
// before the switch.
import { describe } from 'node:test';
import { heldRows } from './failover-decide-rows/held.js';
import { tableTests } from '../helpers/decide-fixtures.js';

describe('decide(): state × observation table', () => {
  tableTests(heldRows);
});
