// decide() — the failover decision — as a table (test/unit/failover-decide-rows/): a failover
// switched or aborted, and one server under both names.
import { describe } from 'node:test';
import { switchedRows } from './failover-decide-rows/switched.js';
import { tableTests } from '../helpers/decide-fixtures.js';

describe('decide(): state × observation table', () => {
  tableTests(switchedRows);
});
