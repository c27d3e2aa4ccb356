// Replicas with tls-replication yes sync through rbuddy's TLS listener from a plain master: a
// full sync byte-exact with a disk snapshot and with a diskless one, a partial resync after the
// replica's link is cut, and discovery over TLS. Each replica presents its own certificate
// (SAN 127.0.0.1), which matches the default identity of a node configured at 127.0.0.1.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { isWarning } from '../../harness/rbuddy-process.js';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { masterStats, populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';
import {
  createTestPki,
  standardCerts,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import { tlsListenerArgs } from '../helpers/tls-client.js';
import type { HostPort } from '../../src/config/types.js';
import type { SessionStatus } from '../../src/proxy/session-types.js';

const GROUP = 'tls-group';
const TOKEN = 'tls-listener-sync-token';

describe('the TLS RESP listener: replication and discovery', () => {
  let pki: TestPki;
  let certs: StandardCerts;
  let master: RedisServer;
  let active: RedisServer;
  let standby: RedisServer;
  let rbuddy: RbuddyUnderTest;
  let tlsListen: HostPort;

  const replicaTls = (): Record<string, string> => ({
    'tls-cert-file': certs.server.cert,
    'tls-key-file': certs.server.key,
    'tls-ca-cert-file': pki.ca.cert,
    'tls-replication': 'yes',
  });
  const session = (replica: RedisServer): SessionStatus | undefined =>
    rbuddy.status().sessions.find((s) => s.replica === replica.address);
  const streamingSession = (replica: RedisServer, not?: string): Promise<SessionStatus> =>
    waitFor(
      () => {
        const found = session(replica);
        return found?.phase === 'streaming' && found.id !== not ? found : undefined;
      },
      {
        what: `${replica.name}'s session streaming`,
        timeoutMs: 120_000,
        explain: () =>
          `${JSON.stringify(rbuddy.status().sessions)}\n${replica.logTail(15)}\n${rbuddy
            .logs()
            .filter(isWarning)
            .slice(-10)
            .map((line) => JSON.stringify(line))
            .join('\n')}`,
      },
    );

  before(async () => {
    pki = await createTestPki();
    certs = await standardCerts(pki);
    [master, active, standby] = await Promise.all([
      startRedis({ name: 'master', args: { 'repl-diskless-sync': 'no', rdbcompression: 'no' } }),
      startRedis({ name: 'active', args: replicaTls() }),
      startRedis({ name: 'standby', args: replicaTls() }),
    ]);
    await populate(master.client(), { megabytes: 20, dbs: [0, 5] });
    rbuddy = await startRbuddy({
      master: master.address,
      active: active.address,
      standby: standby.address,
      args: [
        '--group',
        GROUP,
        '--http-token',
        TOKEN,
        ...tlsListenerArgs(certs.server, pki.ca.cert),
      ],
    });
    const bound = rbuddy.app.proxy.tlsAddress();
    assert.ok(bound !== undefined);
    tlsListen = bound;
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
    await pki.remove();
  });

  test('status shows both listeners, and the announce address is the TLS one', () => {
    const status = rbuddy.status();
    assert.equal(status.tlsListen, `127.0.0.1:${tlsListen.port}`);
    assert.equal(status.listen, `127.0.0.1:${rbuddy.app.proxy.plainAddress()?.port}`);
    assert.equal(status.announce, status.tlsListen);
  });

  test('a full sync with a disk snapshot over TLS is byte-exact', async () => {
    await active.client().replicaof(tlsListen.host, tlsListen.port);
    const attached = await streamingSession(active);
    assert.equal(attached.snapshot?.format, 'disk');
    await waitForInSync(master.client(), active.client());
    const verified = rbuddy
      .logs()
      .find((line) => line.msg === 'replica verified by the node itself');
    assert.equal(verified?.certificate, 'ip:127.0.0.1 matched 127.0.0.1');
  });

  test('a cut link resumes with a partial resync (+CONTINUE) over TLS', async () => {
    await waitFor(() => rbuddy.status().state === 'healthy', {
      what: 'rbuddy healthy',
      timeoutMs: 60_000,
    });
    const first = session(active);
    assert.ok(first !== undefined);
    const before = await masterStats(master.client());
    await master.client().set('before-cut', 'x');
    // The replica's own link to its master (rbuddy's TLS listener): cut from its side.
    await active.client().call('CLIENT', 'KILL', 'TYPE', 'master');
    await master.client().set('after-cut', 'y');
    await streamingSession(active, first.id);
    await waitForInSync(master.client(), active.client());
    const afterStats = await masterStats(master.client());
    assert.equal(afterStats.syncFull, before.syncFull, 'no full sync');
    assert.equal(afterStats.syncPartialOk, before.syncPartialOk + 1, 'one partial resync');
    assert.equal(await active.client().get('after-cut'), 'y');
  });

  test('discovery over TLS: SENTINEL get-master-addr-by-name with ioredis tls options', async () => {
    const client = new Redis({
      host: tlsListen.host,
      port: tlsListen.port,
      tls: {
        ca: readFileSync(pki.ca.cert),
        cert: readFileSync(certs.replicaA.cert),
        key: readFileSync(certs.replicaA.key),
      },
      maxRetriesPerRequest: 1,
      // rbuddy serves no INFO: the ready check would fail.
      enableReadyCheck: false,
    });
    client.on('error', () => undefined);
    try {
      const view = (await client.call('SENTINEL', 'get-master-addr-by-name', GROUP)) as string[];
      assert.deepEqual(view, ['127.0.0.1', String(active.port)]);
    } finally {
      client.disconnect();
    }
  });

  test('a full sync with a diskless snapshot over TLS is byte-exact', async () => {
    await master.client().config('SET', 'repl-diskless-sync', 'yes');
    await master.client().config('SET', 'repl-diskless-sync-delay', '0');
    // The idle standby is held outside a failover (docs/design.md, "Roles and states"): a
    // planned switch releases it, and it full-syncs through the TLS listener, rbuddy's announce
    // address.
    await requestPlannedSwitch(rbuddy.httpUrl, TOKEN);
    const attached = await streamingSession(standby);
    assert.equal(attached.snapshot?.format, 'eof');
    await waitForInSync(master.client(), standby.client());
  });
});
