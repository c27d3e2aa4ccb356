// Reply checks for ioredis `call` results: the expected shape passes through, anything else is a
// coded error naming the command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RbuddyError } from '../../src/errors.js';
import { asArray, asString } from '../../src/nodes/replies.js';

function unexpected(what: RegExp): (error: unknown) => boolean {
  return (error) =>
    error instanceof RbuddyError &&
    error.code === 'RBUDDY_ERR_UNEXPECTED_REPLY' &&
    what.test(error.message);
}

test('asString passes a string and refuses nil, numbers, arrays and buffers', () => {
  assert.equal(asString('# Server\r\n', 'INFO'), '# Server\r\n');
  assert.throws(() => asString(null, 'INFO'), unexpected(/^INFO answered nil/));
  assert.throws(() => asString(3, 'INFO'), unexpected(/a number/));
  assert.throws(() => asString(['a'], 'INFO'), unexpected(/an array, not a string/));
  assert.throws(() => asString(Buffer.from('x'), 'INFO'), unexpected(/binary string/));
});

test('asArray passes an array (a copy, items unchecked) and refuses anything else', () => {
  const reply = ['master', 0, []];
  const checked = asArray(reply, 'ROLE');
  assert.deepEqual(checked, reply);
  assert.notEqual(checked, reply);
  assert.throws(() => asArray('OK', 'ROLE'), unexpected(/^ROLE answered a string, not an array/));
  assert.throws(() => asArray(null, 'ROLE'), unexpected(/nil/));
});
