// The etcd harness itself (harness/etcd-cluster.ts): three real members on loopback that keep a
// quorum with one member down, lose it with two down, get it back when one returns, and leave no
// process or data dir behind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd-cluster.js';
import { isPidAlive } from '../../harness/processes.js';
import { waitFor } from '../../harness/wait-for.js';

const CALL_MS = 1_000;

describe('etcd cluster harness', () => {
  let cluster: EtcdCluster | undefined;
  let client: Etcd3 | undefined;
  after(async () => {
    client?.close();
    await cluster?.close();
  });

  it('keeps a quorum with one member down, loses it with two, regains it', async () => {
    cluster = await startEtcdCluster();
    client = new Etcd3({
      hosts: [...cluster.clientUrls],
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_MS }),
    });
    const etcd = client;
    await etcd.put('/harness/k').value('1');

    await cluster.kill9(0);
    await waitFor(async () => (await etcd.put('/harness/k').value('2'), true), {
      what: 'a write with one member down',
    });
    await cluster.stop(1);
    // Without a quorum a write never commits: every attempt fails (each within its deadline).
    await assert.rejects(etcd.put('/harness/k').value('3').exec());

    await cluster.start(1);
    await waitFor(async () => (await etcd.put('/harness/k').value('4'), true), {
      what: 'a write once the quorum is back',
    });
    assert.equal(await etcd.get('/harness/k').string(), '4');
  });

  it('close() ends every member by PID and removes the data dirs', async () => {
    assert.ok(cluster !== undefined);
    const pids = cluster.members.flatMap((m) => (m.pid === undefined ? [] : [m.pid]));
    const root = dirname(cluster.members[0]?.dataDir ?? '');
    assert.ok(pids.length >= 2 && existsSync(root));
    client?.close();
    client = undefined;
    await cluster.close();
    cluster = undefined;
    assert.deepEqual(
      pids.filter((pid) => isPidAlive(pid)),
      [],
    );
    assert.equal(existsSync(root), false);
  });
});
