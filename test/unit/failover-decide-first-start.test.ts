// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): a first start,
// the active without a dataset yet.
import { describe } from 'node:test';
import { firstStartRows } from './failover-decide-rows/first-start.js';
import { tableTests } from '../helpers/decide-fixtures.js';

describe('decide(): state × observation table', () => {
  tableTests(firstStartRows);
});
