// Who may connect to the RESP port (docs/design.md, "Limits and trust"), as pure decisions over the
// peer's address and the counts: protected mode refuses non-loopback peers of an open,
// password-less listener (the functional test can only reach one non-loopback address of this
// machine; every shape of address is covered here), and --max-clients keeps a reserve for the
// configured replicas.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  admit,
  isLoopbackAddress,
  isLoopbackOnly,
  MAX_CLIENTS_MESSAGE,
  protectedModeActive,
  protectedModeWarning,
  REPLICA_RESERVE,
  ReplicaAddresses,
  type AdmissionInput,
} from '../../src/proxy/admission.js';

const open = { host: '0.0.0.0', port: 6382 };

function input(overrides: Partial<AdmissionInput>): AdmissionInput {
  return {
    peerAddress: '10.0.0.9',
    protectedMode: false,
    listen: open,
    maxClients: 10,
    clients: { ordinary: 0, reserved: 0 },
    replicaPeer: false,
    ...overrides,
  };
}

describe('loopback', () => {
  test('127.0.0.0/8 and ::1 in every spelling are loopback; nothing else is', () => {
    for (const address of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '::ffff:127.0.0.1',
      '0:0:0:0:0:0:0:1',
    ]) {
      assert.equal(isLoopbackAddress(address), true, address);
    }
    for (const address of ['10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '::', '', 'x']) {
      assert.equal(isLoopbackAddress(address), false, address);
    }
  });

  test('a listener is loopback-only on a loopback address or "localhost", not on a wildcard', () => {
    assert.equal(isLoopbackOnly('127.0.0.1'), true);
    assert.equal(isLoopbackOnly('::1'), true);
    assert.equal(isLoopbackOnly('LOCALHOST'), true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'rbuddy.internal']) {
      assert.equal(isLoopbackOnly(host), false, host);
    }
  });
});

describe('protected mode', () => {
  test('is in force only when on, without a password, on a listener reachable from outside', () => {
    assert.equal(
      protectedModeActive({ protectedMode: true, listenPassword: '', listen: open }),
      true,
    );
    const bound = { host: '10.0.0.5', port: 6382 };
    assert.equal(
      protectedModeActive({ protectedMode: true, listenPassword: '', listen: bound }),
      true,
    );
    assert.equal(
      protectedModeActive({ protectedMode: false, listenPassword: '', listen: open }),
      false,
    );
    assert.equal(
      protectedModeActive({ protectedMode: true, listenPassword: 'pw', listen: open }),
      false,
    );
    const local = { host: '127.0.0.1', port: 6382 };
    assert.equal(
      protectedModeActive({ protectedMode: true, listenPassword: '', listen: local }),
      false,
    );
  });

  test('refuses a non-loopback peer with -DENIED that says what to change; serves loopback', () => {
    for (const peerAddress of ['10.0.0.9', '::ffff:192.0.2.2', 'fd00::2']) {
      const decision = admit(input({ peerAddress, protectedMode: true }));
      assert.equal(decision.admit, false, peerAddress);
      assert.ok(!decision.admit && decision.reason === 'protected-mode');
      assert.match(decision.reply, /^DENIED /);
      for (const remedy of ['--listen-password', '--protected-mode no', 'loopback']) {
        assert.ok(decision.reply.includes(remedy), remedy);
      }
      assert.doesNotMatch(decision.reply, /[\r\n]/, 'one RESP error line');
    }
    for (const peerAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      assert.equal(admit(input({ peerAddress, protectedMode: true })).admit, true, peerAddress);
    }
  });

  test('warns once at start when in force, and when off on an open listener without password', () => {
    const on = protectedModeWarning({ protectedMode: true, listenPassword: '', listen: open });
    assert.match(on ?? '', /protected mode.*only clients on this host/);
    const off = protectedModeWarning({ protectedMode: false, listenPassword: '', listen: open });
    assert.match(off ?? '', /protected mode is off/);
    assert.equal(
      protectedModeWarning({ protectedMode: true, listenPassword: 'pw', listen: open }),
      undefined,
    );
    const local = { host: '127.0.0.1', port: 0 };
    assert.equal(
      protectedModeWarning({ protectedMode: true, listenPassword: '', listen: local }),
      undefined,
    );
  });
});

describe('max clients', () => {
  test('the connection past the limit is refused with Redis words', () => {
    assert.deepEqual(admit(input({ clients: { ordinary: 9, reserved: 0 } })), {
      admit: true,
      reserved: false,
      evictOldestReserved: false,
    });
    assert.deepEqual(admit(input({ clients: { ordinary: 10, reserved: 0 } })), {
      admit: false,
      reason: 'max-clients',
      reply: MAX_CLIENTS_MESSAGE,
    });
  });

  test("a configured replica's address gets in past the limit, the oldest there making way", () => {
    const full = { ordinary: 10, reserved: REPLICA_RESERVE - 1 };
    assert.deepEqual(admit(input({ clients: full, replicaPeer: true })), {
      admit: true,
      reserved: true,
      evictOldestReserved: false,
    });
    const exhausted = { ordinary: 10, reserved: REPLICA_RESERVE };
    assert.deepEqual(admit(input({ clients: exhausted, replicaPeer: true })), {
      admit: true,
      reserved: true,
      evictOldestReserved: true,
    });
    assert.equal(admit(input({ clients: exhausted, replicaPeer: false })).admit, false);
  });

  test('protected mode is decided before the count: a refused stranger takes no place', () => {
    const decision = admit(input({ protectedMode: true, clients: { ordinary: 10, reserved: 0 } }));
    assert.ok(!decision.admit && decision.reason === 'protected-mode');
  });
});

describe('replica addresses', () => {
  test('resolves the configured hosts, answers from the last lookup, refreshes when stale', async () => {
    let now = 0;
    let answer = ['10.0.0.5'];
    let lookups = 0;
    const addresses = new ReplicaAddresses(
      () => ['replica-a'],
      (host) => {
        lookups += 1;
        assert.equal(host, 'replica-a');
        return Promise.resolve(answer);
      },
      () => now,
    );
    await addresses.refresh();
    assert.equal(addresses.has('10.0.0.5'), true);
    assert.equal(addresses.has('::ffff:10.0.0.5'), true);
    assert.equal(addresses.has('10.0.0.6'), false);
    assert.equal(lookups, 1, 'fresh: no new lookup');
    answer = ['10.0.0.6'];
    now += 60_000;
    assert.equal(addresses.has('10.0.0.6'), false, 'the stale answer serves while a lookup runs');
    await addresses.refresh();
    assert.equal(addresses.has('10.0.0.6'), true);
  });
});
