// The check of an instance's own --announce (docs/ha.md, "The --announce must reach this
// instance") with a TLS-only RESP listener (--listen none, --tls-listen): a plain connection
// cannot speak to it, so the check speaks TLS, presenting the listener's own certificate and
// verifying the chain with its CA, as a replica with tls-replication yes would. Real etcd, real
// rbuddy processes. A good instance's check passes over TLS and it leads; one whose --announce is a
// dead port (started first, so that it would have won) never leads and says why; one whose own
// certificate its listener refuses as a client's (server usage only, --tls-auth-clients yes)
// cannot be checked at all: the check is skipped, and status and the log say why.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { freePort } from '../../harness/processes.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { sentinelId } from '../../src/discovery/sentinel-commands.js';
import { pastLeaderCheck } from '../../src/ha/group-member.js';
import { ReloadableTls } from '../../src/tls/reloadable-tls.js';
import { TLS_OPTION_NAMES } from '../../src/tls/tls-material.js';
import { startHaRig, type HaRig } from '../helpers/ha-rig.js';
import {
  createTestPki,
  standardCerts,
  type CertFiles,
  type TestPki,
} from '../helpers/tls-certs.js';

let cluster: EtcdCluster;
let pki: TestPki;
let server: CertFiles;
let serverOnly: CertFiles;
const rigs: HaRig[] = [];

before(async () => {
  cluster = await startEtcdCluster();
  pki = await createTestPki();
  server = (await standardCerts(pki)).server;
  serverOnly = await pki.ca.issue('server-only', {
    cn: 'localhost',
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    usage: 'server',
  });
});

after(async () => {
  await Promise.all(rigs.map((rig) => rig.close()));
  await stopAllRedis();
  await cluster.close();
  await pki.remove();
});

/** A TLS-only instance on `port`, with `cert` as its listener's certificate. */
function tlsOnly(port: number, cert: CertFiles): { listen: string; extra: string[] } {
  return {
    listen: 'none',
    extra: [
      ...['--tls-listen', `127.0.0.1:${port}`],
      ...['--tls-cert-file', cert.cert, '--tls-key-file', cert.key],
      ...['--tls-ca-cert-file', pki.ca.cert],
    ],
  };
}

test('TLS-only listeners: the check speaks TLS; a dead --announce never leads, the good one does', async () => {
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  const dead = await freePort();
  const bad = await rig.spawn({
    ...tlsOnly(await freePort(), server),
    announce: `127.0.0.1:${dead}`,
  });
  const reason = new RegExp(
    `--announce 127\\.0\\.0\\.1:${dead} does not reach this instance: nothing answers there`,
  );
  const refusing = await rig.waitFor(bad, 'the dead --announce reported (or a lead)', (s) => {
    return (
      s.leader === true || (s.announceCheck?.state === 'failing' && reason.test(s.reason ?? ''))
    );
  });
  assert.equal(refusing.leader, false);

  const goodPort = await freePort();
  const good = await rig.spawn(tlsOnly(goodPort, server));
  const leading = await rig.waitFor(good, 'the good instance to lead, its check passed', (s) => {
    return s.leader === true && s.announceCheck?.state === 'verified';
  });
  assert.equal(leading.announce, `127.0.0.1:${goodPort}`);
  assert.equal(leading.listen, null);
  const follower = await rig.waitFor(bad, 'the bad one following', (s) => {
    return s.leaderAnnounce === `127.0.0.1:${goodPort}`;
  });
  assert.equal(follower.leader, false);
  assert.equal(follower.announceCheck?.state, 'failing');
  assert.ok(!bad.logs().some((line) => /^elected/.test(String(line.msg))));

  // The same TLS-only address as a past leader's, asked by a later leader before it repoints a
  // replica that follows it (docs/ha.md, "Which replicas are repointed"): over TLS, with that
  // leader's own listener certificate, it is the group's instance; spoken to in plain only (as
  // before), nothing could be concluded and the replica stayed with it.
  const material = await ReloadableTls.load(
    { cert: server.cert, key: server.key, ca: pki.ca.cert },
    { hop: 'listener', names: TLS_OPTION_NAMES.listener, requireCertificate: true },
  );
  const checkConfig = {
    listenPassword: '',
    connectTimeoutMs: 2000,
    commandTimeoutMs: 2000,
  };
  const address = `127.0.0.1:${goodPort}`;
  const idAt = (at: string) => sentinelId('rbuddy', at);
  try {
    assert.deepEqual(await pastLeaderCheck(checkConfig, { tls: material }, idAt)(address), {
      kind: 'instance',
    });
    assert.notEqual(
      (await pastLeaderCheck(checkConfig, undefined, idAt)(address)).kind,
      'instance',
    );
    // A dead past leader is still told apart: nothing there, so its replicas are the new one's.
    assert.equal(
      (await pastLeaderCheck(checkConfig, { tls: material }, idAt)(`127.0.0.1:${dead}`)).kind,
      'gone',
    );
  } finally {
    material.close();
  }
});

test('TLS-only, its own certificate refused as a client one: the check is skipped, saying why', async () => {
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  const port = await freePort();
  const alone = await rig.spawn(tlsOnly(port, serverOnly));
  const skipped = await rig.waitFor(alone, 'the check skipped, and the instance leading', (s) => {
    return s.leader === true && s.announceCheck?.state === 'skipped';
  });
  assert.match(
    skipped.announceCheck?.detail ?? '',
    /own listener does not answer the check as this instance \(tls: .*client certificate refused/,
  );
  assert.ok(
    alone.logs().some((line) => /^--announce not checked/.test(String(line.msg))),
    'the skip is logged',
  );
});

test('a plain listener beside the TLS one, its certificate refused as a client one: skipped too, it leads', async () => {
  // The --announce is the TLS listener (the default). Before, the plain listener answering the
  // check while the announce could not be read in plain made it "failing": no instance of such a
  // group ever led.
  const rig = await startHaRig(cluster, { instances: 0 });
  rigs.push(rig);
  const tlsPort = await freePort();
  const { extra } = tlsOnly(tlsPort, serverOnly);
  const mixed = await rig.spawn({ listen: `127.0.0.1:${await freePort()}`, extra });
  const skipped = await rig.waitFor(mixed, 'the check skipped, and the instance leading', (s) => {
    return s.leader === true && s.announceCheck?.state === 'skipped';
  });
  assert.equal(skipped.announce, `127.0.0.1:${tlsPort}`);
  assert.match(skipped.announceCheck?.detail ?? '', /\(tls: .*client certificate refused/);
});
