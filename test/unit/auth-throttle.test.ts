// AUTH failures per peer IP: the wait doubles with each failure up to a ceiling, an IP that stops
// failing is forgotten, and a spray of IPs costs bounded memory.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthThrottle } from '../../src/proxy/auth-throttle.js';

describe('AuthThrottle', () => {
  test('no failure, no wait; then the wait doubles per failure up to the ceiling', () => {
    const throttle = new AuthThrottle({ baseDelayMs: 50, maxDelayMs: 300, now: () => 0 });
    assert.equal(throttle.delayFor('10.0.0.9'), 0);
    const waits = [];
    for (let i = 0; i < 5; i++) {
      throttle.recordFailure('10.0.0.9');
      waits.push(throttle.delayFor('10.0.0.9'));
    }
    assert.deepEqual(waits, [50, 100, 200, 300, 300]);
    assert.equal(throttle.delayFor('10.0.0.10'), 0, 'another IP does not wait');
    assert.equal(throttle.delayFor('::ffff:10.0.0.9'), 300, 'the same IP however it is written');
  });

  test('an IP that stops failing is forgotten after the quiet window', () => {
    let now = 0;
    const throttle = new AuthThrottle({ forgetAfterMs: 1000, now: () => now });
    assert.equal(throttle.recordFailure('10.0.0.9'), 1);
    now = 999;
    assert.equal(throttle.recordFailure('10.0.0.9'), 2, 'a failure inside the window adds up');
    now = 1999;
    assert.equal(throttle.delayFor('10.0.0.9'), 0);
    assert.equal(throttle.trackedPeers, 0);
  });

  test('remembers at most maxTrackedPeers IPs, the least recently failed forgotten first', () => {
    const throttle = new AuthThrottle({ maxTrackedPeers: 3, now: () => 0 });
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) throttle.recordFailure(ip);
    throttle.recordFailure('10.0.0.1');
    throttle.recordFailure('10.0.0.4');
    assert.equal(throttle.trackedPeers, 3);
    assert.equal(throttle.delayFor('10.0.0.2'), 0, 'the oldest went');
    assert.ok(throttle.delayFor('10.0.0.1') > 0, 'a recent failure stays');
  });
});
