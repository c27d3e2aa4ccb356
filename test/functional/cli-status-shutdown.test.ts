// The real CLI: it relays, GET /v1/status shows the session over HTTP, and SIGTERM closes the
// listeners and sessions cleanly and exits 0.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { stopAllRedis, startRedis } from '../../harness/redis-server.js';
import { spawnRbuddy } from '../../harness/rbuddy-process.js';
import { populate, waitForInSync } from '../../harness/replication.js';
import { waitFor } from '../../harness/wait-for.js';

after(() => stopAllRedis());

test('the CLI relays, reports sessions on /v1/status, and exits 0 on SIGTERM', async () => {
  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master' }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await populate(master.client(), { megabytes: 5 });
  const rbuddy = await spawnRbuddy([
    '--master',
    master.address,
    '--active',
    active.address,
    '--standby',
    standby.address,
    '--listen',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--state-dir',
    join(tmpdir(), `rbuddy-cli-${process.pid}`),
  ]);
  try {
    const health = await fetch(`${rbuddy.httpUrl}/healthz`);
    assert.equal(health.status, 200);

    await active.client().replicaof(rbuddy.resp.host, rbuddy.resp.port);
    await waitForInSync(master.client(), active.client());
    const status = await waitFor(
      async () => {
        const response = await fetch(`${rbuddy.httpUrl}/v1/status`);
        const body = (await response.json()) as AppStatus;
        return body.sessions[0]?.phase === 'streaming' ? body : undefined;
      },
      { what: 'a streaming session on /v1/status' },
    );
    const session = status.sessions[0];
    assert.ok(session !== undefined);
    assert.equal(session.replica, active.address);
    assert.equal(typeof session.offset, 'number');
    assert.equal(typeof session.replid, 'string');
    assert.ok(session.bytes.fromMaster > 0 && session.bytes.toMaster > 0);
    assert.ok(session.snapshot !== null && session.snapshot.transferred > 0);
    assert.equal(status.active, active.address);

    const missing = await fetch(`${rbuddy.httpUrl}/nope`);
    assert.equal(missing.status, 404);

    rbuddy.child.kill('SIGTERM');
    assert.equal(await rbuddy.exit(), 0);
    assert.ok(
      rbuddy.logs().some((line) => line.msg === 'stopped'),
      'logged a clean stop',
    );
    // The replica saw its link go (the proxy closed it) rather than hanging on a dead socket.
    await waitFor(
      async () => (await active.client().info('replication')).includes('master_link_status:down'),
      { what: 'the replica to notice the proxy is gone' },
    );
  } finally {
    if (rbuddy.child.exitCode === null) rbuddy.child.kill('SIGKILL');
  }
});
