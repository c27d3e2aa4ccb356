// The admin API against a real topology: liveness and readiness probes, GET /active and /standby in
// the rbuddy-compatible `redis://host:port/` form (swapping after a failover), 404 and 405,
// --http-auth-reads protecting every read except the probes, and no secret (the bearer token, the
// master, replica and listen passwords) in /v1/status or the logs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../harness/processes.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { spawnRbuddy } from '../../harness/rbuddy-process.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { startTopology, type Topology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'admin-api-t0ken-value';
const MASTER_PASSWORD = 'master-pa55word-value';
const REPLICA_PASSWORD = 'replica-pa55word-value';
const LISTEN_PASSWORD = 'listen-pa55word-value';
const SECRETS = [TOKEN, MASTER_PASSWORD, REPLICA_PASSWORD, LISTEN_PASSWORD];
const stateDir = mkdtempSync(join(tmpdir(), 'rbuddy-admin-api-'));

interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

async function request(
  url: string,
  options: { method?: string; token?: string } = {},
): Promise<Reply> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe('admin API', () => {
  let t: Topology;
  let url: string;
  let readyzWhileStarting: Reply;
  let healthzWhileStarting: Reply;

  before(async () => {
    t = await startTopology({
      masterArgs: {
        requirepass: MASTER_PASSWORD,
        // The master waits 3 s before streaming the first snapshot: a window in which the
        // active is attached but holds no dataset yet.
        'repl-diskless-sync': 'yes',
        'repl-diskless-sync-delay': 3,
      },
      replicaArgs: { requirepass: REPLICA_PASSWORD, masterauth: LISTEN_PASSWORD },
      rbuddyArgs: [
        '--master-password',
        MASTER_PASSWORD,
        '--replica-password',
        REPLICA_PASSWORD,
        '--listen-password',
        LISTEN_PASSWORD,
        '--http-token',
        TOKEN,
        '--http-auth-reads',
        '--drain-ms',
        '500',
      ],
      populate: { megabytes: 2 },
    });
    url = t.rbuddy.httpUrl;
    readyzWhileStarting = await request(`${url}/readyz`);
    healthzWhileStarting = await request(`${url}/healthz`);
  });

  after(async () => {
    await stopAllRbuddy();
    await stopAllRedis();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('/healthz is 200 from the start; /readyz is 503 until the active holds its dataset, then 200', async () => {
    assert.equal(healthzWhileStarting.status, 200);
    assert.equal(readyzWhileStarting.status, 503, readyzWhileStarting.text);
    assert.equal((JSON.parse(readyzWhileStarting.text) as { ready: boolean }).ready, false);

    await t.waitForHealthy();
    const ready = await request(`${url}/readyz`);
    assert.equal(ready.status, 200, ready.text);
    assert.equal((JSON.parse(ready.text) as { ready: boolean }).ready, true);
    assert.equal((await request(`${url}/healthz`)).status, 200);
  });

  test('--http-auth-reads: /v1/status, /active and /standby need the token; the probes do not', async () => {
    for (const path of ['/v1/status', '/active', '/standby']) {
      const missing = await request(`${url}${path}`);
      assert.equal(missing.status, 401, `${path} without a token`);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
      assert.ok(!missing.text.includes('redis://'), `${path} leaks nothing without a token`);
      assert.equal((await request(`${url}${path}`, { token: 'wrong' })).status, 401, path);
      assert.equal((await request(`${url}${path}`, { token: TOKEN })).status, 200, path);
    }
    assert.equal((await request(`${url}/healthz`)).status, 200);
    assert.equal((await request(`${url}/readyz`)).status, 200);

    const status = JSON.parse((await request(`${url}/v1/status`, { token: TOKEN })).text) as {
      state: string;
      epoch: number;
      master: string;
      active: string;
      standby: string;
    };
    assert.equal(status.state, 'healthy');
    assert.equal(status.master, t.master.address);
    assert.equal(status.active, t.active.address);
    assert.equal(status.standby, t.standby.address);
  });

  test('unknown paths are 404, wrong methods 405 with Allow', async () => {
    for (const path of ['/nope', '/v1/statuses', '/active/', '/v1/failover/maybe']) {
      const reply = await request(`${url}${path}`, { token: TOKEN });
      assert.equal(reply.status, 404, path);
    }
    const wrongMethods: Array<[string, string, string]> = [
      ['POST', '/healthz', 'GET'],
      ['POST', '/v1/status', 'GET'],
      ['DELETE', '/active', 'GET'],
      ['GET', '/v1/failover', 'POST'],
      ['PUT', '/v1/failover/confirm', 'POST'],
    ];
    for (const [method, path, allow] of wrongMethods) {
      const reply = await request(`${url}${path}`, { method, token: TOKEN });
      assert.equal(reply.status, 405, `${method} ${path}`);
      assert.equal(reply.headers.get('allow'), allow, `${method} ${path}`);
    }
    // None of it started anything.
    assert.equal(t.rbuddy.status().failover, null);
  });

  test('GET /active and /standby answer redis://host:port/ and swap after a failover', async () => {
    const active = await request(`${url}/active`, { token: TOKEN });
    const standby = await request(`${url}/standby`, { token: TOKEN });
    assert.equal(active.text, `redis://${t.active.address}/\n`);
    assert.equal(standby.text, `redis://${t.standby.address}/\n`);
    assert.match(active.headers.get('content-type') ?? '', /^text\/plain/);

    const epoch = t.rbuddy.status().epoch ?? -1;
    const accepted = await request(`${url}/v1/failover`, { method: 'POST', token: TOKEN });
    assert.equal(accepted.status, 202, accepted.text);
    // During the failover the active keeps serving its dataset: still ready.
    await waitFor(() => t.rbuddy.status().failover !== null, { what: 'the failover to start' });
    assert.equal((await request(`${url}/readyz`)).status, 200);
    await waitFor(
      () =>
        t.rbuddy.status().state === 'healthy' &&
        t.rbuddy.status().failover === null &&
        t.rbuddy.status().epoch === epoch + 1,
      { what: 'the planned failover to complete', timeoutMs: 120_000 },
    );
    assert.equal(
      (await request(`${url}/active`, { token: TOKEN })).text,
      `redis://${t.standby.address}/\n`,
    );
    assert.equal(
      (await request(`${url}/standby`, { token: TOKEN })).text,
      `redis://${t.active.address}/\n`,
    );
    assert.equal((await request(`${url}/readyz`)).status, 200);
  });

  test('no secret appears in /v1/status or in the logs', async () => {
    const status = await request(`${url}/v1/status`, { token: TOKEN });
    assert.equal(status.status, 200);
    // The status has the last failover's timeline and the sessions: real content to leak from.
    assert.match(status.text, /"lastFailover"/);
    assert.match(status.text, /"sessions"/);
    const logs = t.rbuddy
      .logs()
      .map((line) => JSON.stringify(line))
      .join('\n');
    assert.ok(logs.length > 0);
    for (const secret of SECRETS) {
      assert.ok(!status.text.includes(secret), 'a secret leaked into /v1/status');
      assert.ok(!logs.includes(secret), 'a secret leaked into the logs');
    }
  });

  test('the real CLI logs its configuration with every secret redacted', async () => {
    // Its replicas are unreachable ports (it must not act on the topology above); the master
    // is the real one, so the health probe authenticates with the master password.
    const cli = await spawnRbuddy([
      '--master',
      t.master.address,
      '--active',
      `127.0.0.1:${await freePort()}`,
      '--standby',
      `127.0.0.1:${await freePort()}`,
      '--listen',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--state-dir',
      stateDir,
      '--master-password',
      MASTER_PASSWORD,
      '--replica-password',
      REPLICA_PASSWORD,
      '--listen-password',
      LISTEN_PASSWORD,
      '--http-token',
      TOKEN,
    ]);
    try {
      const status = await waitFor(
        async () => {
          const reply = await request(`${cli.httpUrl}/v1/status`);
          const body = JSON.parse(reply.text) as { state: string; masterUp: boolean };
          return body.state === 'degraded' && body.masterUp ? reply : undefined;
        },
        { what: 'the CLI degraded, its probe authenticated to the master' },
      );
      const starting = cli.logs().find((line) => line.msg === 'rbuddy starting');
      const config = starting?.config as Record<string, unknown> | undefined;
      assert.ok(config !== undefined, 'the configuration is logged at start');
      for (const key of ['masterPassword', 'replicaPassword', 'listenPassword', 'httpToken']) {
        assert.equal(config[key], '[redacted]', key);
      }
      const output = `${JSON.stringify(cli.logs())}\n${cli.stderr()}`;
      for (const secret of SECRETS) {
        assert.ok(!status.text.includes(secret), 'a secret leaked into /v1/status');
        assert.ok(!output.includes(secret), 'a secret leaked into the logs');
      }
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exit();
    }
  });
});
