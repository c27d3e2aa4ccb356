// The link to the master over TLS (--master-tls): a TLS-only master that requires a client
// certificate, plain replicas syncing through rbuddy's plain listener. Full syncs byte-exact with
// both snapshot formats, a partial resync after a cut link, the probe on TLS too; and a master
// rbuddy must not trust (another CA, another name) never hands a replica anything, with the
// reason in words in /v1/status and the session's log line.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRbuddy, stopAllRbuddy, type RbuddyUnderTest } from '../helpers/rbuddy.js';
import { startTlsRedis, stopAllTlsRedis, type TlsRedis } from '../helpers/redis-tls.js';
import {
  createTestPki,
  standardCerts,
  type CertFiles,
  type StandardCerts,
  type TestPki,
} from '../helpers/tls-certs.js';
import { startRedis, stopAllRedis, type RedisServer } from '../../harness/redis-server.js';
import { info, masterStats, populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';
import { requestPlannedSwitch } from '../helpers/planned-switch.js';

let pki: TestPki;
let certs: StandardCerts;
/** rbuddy's client certificate for the master. */
let rbuddyClient: CertFiles;
let master: TlsRedis;
const TOKEN = 'tls-master-link-token';

before(async () => {
  pki = await createTestPki();
  certs = await standardCerts(pki);
  rbuddyClient = await pki.ca.issue('rbuddy-client', { cn: 'rbuddy', usage: 'client' });
  master = await startTlsRedis({
    name: 'tls-master',
    server: certs.server,
    ca: pki.ca.cert,
    authClients: 'yes',
    args: { 'repl-diskless-sync': 'no', 'repl-diskless-sync-delay': 0 },
  });
  await populate(master.client(), { megabytes: 8, dbs: [0, 1] });
});

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
  await stopAllTlsRedis();
  await pki.remove();
});

function masterTlsArgs(overrides: Record<string, string> = {}): string[] {
  const flags: Record<string, string> = {
    '--master-tls': 'yes',
    '--master-tls-ca-cert-file': pki.ca.cert,
    '--master-tls-cert-file': rbuddyClient.cert,
    '--master-tls-key-file': rbuddyClient.key,
    ...overrides,
  };
  return Object.entries(flags).flat();
}

async function startPair(args: string[]): Promise<{
  rbuddy: RbuddyUnderTest;
  active: RedisServer;
  standby: RedisServer;
}> {
  const [active, standby] = await Promise.all([
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  const rbuddy = await startRbuddy({
    master: `${master.host}:${master.tlsPort}`,
    active: active.address,
    standby: standby.address,
    args: ['--probe-interval-ms', '200', ...args],
  });
  return { rbuddy, active, standby };
}

describe('replication from a TLS-only master through rbuddy', () => {
  let rbuddy: RbuddyUnderTest;
  let active: RedisServer;
  let standby: RedisServer;
  const session = (replica: RedisServer) =>
    rbuddy.status().sessions.find((s) => s.replica === replica.address);

  before(async () => {
    ({ rbuddy, active, standby } = await startPair([...masterTlsArgs(), '--http-token', TOKEN]));
  });

  test('the active full-syncs byte-exact with a disk snapshot, and rbuddy is healthy', async () => {
    await waitFor(() => rbuddy.status().state === 'healthy', {
      what: 'rbuddy healthy',
      timeoutMs: 60_000,
      explain: () => JSON.stringify(rbuddy.status()),
    });
    await waitForInSync(master.client(), active.client());
    assert.equal(session(active)?.snapshot?.format, 'disk');
  });

  test('the probe reaches the master over TLS', async () => {
    const clients = (await master.client().call('CLIENT', 'LIST')) as string;
    assert.match(clients, /name=rbuddy-probe/);
    assert.equal(rbuddy.status().masterUp, true);
    assert.equal(rbuddy.status().masterProbeError, null);
  });

  test('a replica whose link is cut resumes with +CONTINUE over TLS', async () => {
    const before = await masterStats(master.client());
    const old = session(active);
    assert.ok(old !== undefined);
    await active.client().call('CLIENT', 'KILL', 'TYPE', 'master');
    await master.client().set('after-cut', '1');
    const resumed = await waitFor(
      () => {
        const s = session(active);
        return s !== undefined && s.id !== old.id && s.phase === 'streaming' ? s : undefined;
      },
      { what: 'a new streaming session for the active' },
    );
    assert.equal(resumed.snapshot, null, 'no snapshot on a partial resync');
    await waitForInSync(master.client(), active.client());
    const after = await masterStats(master.client());
    assert.equal(after.syncFull, before.syncFull, 'no full sync');
    assert.equal(after.syncPartialOk, before.syncPartialOk + 1, 'one partial resync');
  });

  test('the standby full-syncs byte-exact with a diskless snapshot', async () => {
    await master.client().config('SET', 'repl-diskless-sync', 'yes');
    // The idle standby is held outside a failover (docs/design.md, "Roles and states"): a
    // planned switch releases it, and it full-syncs through rbuddy.
    await requestPlannedSwitch(rbuddy.httpUrl, TOKEN);
    await waitFor(() => session(standby)?.phase === 'streaming', {
      what: 'the standby streaming',
      timeoutMs: 60_000,
    });
    assert.equal(session(standby)?.snapshot?.format, 'eof');
    await master.client().set('after-diskless', 'x');
    await waitForInSync(master.client(), standby.client());
  });
});

describe('a master rbuddy must not trust', () => {
  const cases: ReadonlyArray<{ name: string; flags: () => Record<string, string>; why: RegExp }> = [
    {
      name: 'a certificate of another CA',
      flags: () => ({ '--master-tls-ca-cert-file': pki.otherCa.cert }),
      why: /does not chain to the configured CA/,
    },
    {
      name: 'another name than --master-tls-servername',
      flags: () => ({ '--master-tls-servername': 'not-the-master.test' }),
      why: /does not carry the expected name/,
    },
  ];
  for (const { name, flags, why } of cases) {
    test(`${name}: no snapshot reaches the replica, and status says why`, async () => {
      const { rbuddy, active } = await startPair(masterTlsArgs(flags()));
      const probeError = await waitFor(() => rbuddy.status().masterProbeError ?? undefined, {
        what: 'the probe to report its failure',
      });
      assert.match(probeError, why);
      // rbuddy points the active at itself at its first start; each of its syncs is refused.
      const refused = await waitFor(
        () => {
          const closed = rbuddy
            .logs()
            .filter(
              (line) => line.msg === 'session closed' && line.reason === 'upstream-unavailable',
            );
          return closed.length >= 2 ? closed : undefined;
        },
        {
          what: 'two refused sessions',
          timeoutMs: 60_000,
          explain: () => JSON.stringify(rbuddy.logs().slice(-10)),
        },
      );
      const err = refused[0]?.err as { message?: string } | undefined;
      assert.match(err?.message ?? '', why);
      const replication = await info(active.client(), 'replication');
      assert.equal(replication.master_link_status, 'down');
      assert.equal(await active.client().dbsize(), 0);
      assert.notEqual(rbuddy.status().state, 'healthy');
      await rbuddy.close();
    });
  }
});

test('after a reload of the master hop, the probe checks the master with the new material', async () => {
  // The CA file rbuddy reads, copied so the test can replace it: first the master's CA, then
  // another one. A probe that kept its connection would go on saying the master is fine.
  const dir = mkdtempSync(join(tmpdir(), 'rbuddy-master-ca-'));
  const caFile = join(dir, 'ca.crt');
  copyFileSync(pki.ca.cert, caFile);
  try {
    const { rbuddy } = await startPair(masterTlsArgs({ '--master-tls-ca-cert-file': caFile }));
    await waitFor(() => rbuddy.status().state === 'healthy', {
      what: 'rbuddy healthy with the master verified',
      timeoutMs: 60_000,
    });
    assert.equal(rbuddy.status().masterProbeError, null);
    copyFileSync(pki.otherCa.cert, caFile);
    await rbuddy.app.tls.reload('manual');
    const probeError = await waitFor(() => rbuddy.status().masterProbeError ?? undefined, {
      what: 'the probe to fail against the master with the new CA',
    });
    assert.match(probeError, /does not chain to the configured CA/);
    await rbuddy.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
