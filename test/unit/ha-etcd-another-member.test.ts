// A call that fails for want of one etcd member goes to another (docs/ha.md, "Failure modes"):
// the client's policies (a call retried once per other member, a member that failed set aside)
// and the lease renewal, which tries member after member within its budget and counts from the
// keepalive that was answered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokenCircuitError } from 'cockatiel';
import { EtcdLeaseInvalidError, EtcdPermissionDeniedError, GRPCUnavailableError } from 'etcd3';
import type { EtcdConfig } from '../../src/config/types.js';
import { EtcdUnavailableError } from '../../src/errors.js';
import { etcdClientOptions, retryOnAnotherMember } from '../../src/ha/etcd-client.js';
import { renewLease } from '../../src/ha/lease-renewal.js';

const CONFIG: EtcdConfig = {
  etcd: ['http://10.0.0.7:2379', 'http://10.0.0.8:2379', 'http://10.0.0.9:2379'],
  etcdLeaseMs: 5_000,
  etcdPrefix: '/rbuddy',
  etcdUser: '',
  etcdPassword: '',
  etcdTlsCaCertFile: '',
  etcdTlsCertFile: '',
  etcdTlsKeyFile: '',
  announceCheck: true,
};

const refused = (): Error =>
  new GRPCUnavailableError('14 UNAVAILABLE: No connection established (ECONNREFUSED)');

describe('the etcd client', () => {
  it('tries a call that failed for want of a member once on each other member', async () => {
    const global = etcdClientOptions(CONFIG, 1_000).faultHandling?.global;
    assert.ok(global !== undefined);
    let calls = 0;
    const answer = await global.execute(() => {
      calls += 1;
      if (calls < 3) throw refused();
      return 'ok';
    });
    assert.deepEqual([answer, calls], ['ok', 3]);

    calls = 0;
    await assert.rejects(
      global.execute(() => {
        calls += 1;
        throw refused();
      }),
      GRPCUnavailableError,
    );
    assert.equal(calls, 3, 'three members: three attempts, no more');
  });

  it('does not try another member with what every member would answer', async () => {
    const global = etcdClientOptions(CONFIG, 1_000).faultHandling?.global;
    assert.ok(global !== undefined);
    for (const error of [new EtcdPermissionDeniedError('denied'), new EtcdLeaseInvalidError('7')]) {
      let calls = 0;
      await assert.rejects(
        global.execute(() => {
          calls += 1;
          throw error;
        }),
      );
      assert.equal(calls, 1, error.name);
    }
    assert.equal(retryOnAnotherMember(new EtcdUnavailableError('no answer within 1 ms')), true);
    assert.equal(retryOnAnotherMember(new BrokenCircuitError()), false);
  });

  it('sets a member aside after one failure, and tries it again after a call timeout', async () => {
    const host = etcdClientOptions(CONFIG, 50).faultHandling?.host?.('http://10.0.0.7:2379');
    assert.ok(host !== undefined);
    await assert.rejects(
      host.execute(() => Promise.reject(refused())),
      GRPCUnavailableError,
    );
    let reached = false;
    await assert.rejects(
      host.execute(() => {
        reached = true;
        return 'ok';
      }),
      BrokenCircuitError,
    );
    assert.equal(reached, false, 'set aside: the call goes to another member');
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await host.execute(() => 'ok'), 'ok');
  });

  it('never makes a call wait for a set-aside member: not even one made from its test call', async () => {
    const host = etcdClientOptions(CONFIG, 20).faultHandling?.host?.('http://10.0.0.7:2379');
    assert.ok(host !== undefined);
    await assert.rejects(
      host.execute(() => Promise.reject(refused())),
      GRPCUnavailableError,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    // The test call, after the cooldown; etcd3 makes a call again from inside it when the member
    // refuses the auth token, and that call may pick the same member: it is passed over at once
    // (cockatiel's breaker would have it wait for the test, which waits for it: forever).
    const test = host.execute(async () => {
      await new Promise((resolve) => setImmediate(resolve)); // the call to the member, refused
      await assert.rejects(
        host.execute(() => 'nested'),
        BrokenCircuitError,
      );
      return 'test answered';
    });
    await assert.rejects(
      host.execute(() => 'concurrent'),
      BrokenCircuitError,
    );
    assert.equal(await test, 'test answered');
    assert.equal(await host.execute(() => 'ok'), 'ok', 'closed again after the test answered');
  });
});

/** A lease whose keepalives answer as `script` says, one entry per attempt. */
function scriptedLease(
  script: ('ok' | 'refused' | 'silent' | 'lost' | 'all set aside')[],
  onAttempt: () => void = () => undefined,
): {
  lease: Parameters<typeof renewLease>[0];
  attempts: () => number;
} {
  let attempts = 0;
  const lease = {
    keepaliveOnce: () => {
      const step = script[Math.min(attempts, script.length - 1)];
      attempts += 1;
      onAttempt();
      switch (step) {
        case 'ok':
          return Promise.resolve({ ID: '7', TTL: '5', header: {} } as never);
        case 'refused':
          return Promise.reject(refused());
        case 'lost':
          return Promise.reject(new EtcdLeaseInvalidError('7'));
        case 'all set aside':
          return Promise.reject(new BrokenCircuitError());
        default:
          return new Promise<never>(() => undefined);
      }
    },
  };
  return { lease, attempts: () => attempts };
}

describe('a lease renewal', () => {
  it('goes from a member that refuses or does not answer to one that does', async () => {
    const { lease, attempts } = scriptedLease(['refused', 'all set aside', 'silent', 'ok']);
    const started = performance.now();
    const renewal = await renewLease(lease, {
      attemptMs: 40,
      until: started + 5_000,
      now: () => performance.now(),
    });
    assert.equal(attempts(), 4);
    assert.equal(renewal.ttlSeconds, 5);
    // Counted from the keepalive that was answered, sent after the silent one timed out.
    assert.ok(renewal.sentAt >= started + 40, `sent at +${renewal.sentAt - started} ms`);
  });

  it('gives up at its budget, with what the members said', async () => {
    // A clock of its own, each attempt taking its whole 30 ms on it: as many attempts however
    // late the machine runs the timers.
    let clock = 0;
    const { lease, attempts } = scriptedLease(['silent'], () => (clock += 30));
    await assert.rejects(
      renewLease(lease, { attemptMs: 30, until: 100, now: () => clock }),
      (error: unknown) => error instanceof EtcdUnavailableError && /no answer/.test(error.message),
    );
    assert.ok(attempts() >= 2 && attempts() <= 5, `${attempts()} attempts`);
  });

  it('makes one attempt even with no budget left, and stops at a lost lease', async () => {
    const once = scriptedLease(['ok']);
    const now = performance.now();
    await renewLease(once.lease, { attemptMs: 30, until: now - 1, now: () => performance.now() });
    assert.equal(once.attempts(), 1);

    const lost = scriptedLease(['lost', 'ok']);
    await assert.rejects(
      renewLease(lost.lease, { attemptMs: 30, until: now + 5_000, now: () => performance.now() }),
      EtcdLeaseInvalidError,
    );
    assert.equal(lost.attempts(), 1, 'every member would say the same');
  });
});
