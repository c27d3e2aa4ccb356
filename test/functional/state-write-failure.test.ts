// A state write that fails (disk full, read-only dir) is retried with backoff (I4); each retry
// must not leave a temp file behind, and the failure must show in /v1/status and the metrics.
// Real redis-server and rbuddy; the failing write is a planned failover's first save.
//
// Tests run as root, and chmod does not stop root, so a read-only state dir cannot be made here.
// A directory put where state.json goes stops root too: every write then fails at its last
// step (the rename), after the temp file was written whole — the case that left one per retry.
import assert from 'node:assert/strict';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import type { AppStatus } from '../../src/app.js';
import { parsePrometheusText, sampleValue } from '../helpers/prom-text.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { failoverTimings, startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';

const TOKEN = 'state-write-t0ken';
const AUTH = { authorization: `Bearer ${TOKEN}` };

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

async function requestFailover(httpUrl: string): Promise<void> {
  const response = await fetch(`${httpUrl}/v1/failover`, {
    method: 'POST',
    headers: AUTH,
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(response.status, 202, await response.text());
}

test('a failing state write leaves no temp file per retry and shows in /v1/status and /metrics', async () => {
  const t = await startTopology({
    rbuddyArgs: ['--http-token', TOKEN, ...failoverTimings()],
    populate: { megabytes: 1 },
  });
  await t.waitForHealthy();
  const file = t.rbuddy.status().stateStore.file;
  assert.ok(typeof file === 'string' && file.endsWith('state.json'), 'status names the state file');
  const stateDir = dirname(file);

  await rm(file);
  await mkdir(join(file, 'in-the-way'), { recursive: true });
  const retries = (): number =>
    t.rbuddy.logs().filter((line) => line.msg === 'failover step failed; retrying').length;
  // A failed start of a planned failover is not retried by itself (the request is used up): the
  // operator asks again, three times.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    await requestFailover(t.rbuddy.httpUrl);
    await waitFor(() => retries() >= attempt, { what: `failed save number ${attempt}` });
    await waitFor(() => t.rbuddy.status().state === 'healthy', { what: 'healthy again' });
  }
  const files = await readdir(stateDir);
  assert.deepEqual(
    files.filter((name) => name.endsWith('.tmp')),
    [],
    `no temp file left: ${files.join(', ')}`,
  );

  const status = (await (
    await fetch(`${t.rbuddy.httpUrl}/v1/status`, {
      headers: AUTH,
      signal: AbortSignal.timeout(5_000),
    })
  ).json()) as AppStatus;
  assert.equal(status.stateStore.file, file);
  assert.equal(status.stateStore.writable, false);
  assert.ok(status.stateStore.failedWrites >= 3, JSON.stringify(status.stateStore));
  assert.equal(status.stateStore.lastWriteError?.code, 'EISDIR');
  assert.equal(status.failover, null, 'nothing acted on without its state on disk');

  const metrics = parsePrometheusText(
    await (
      await fetch(`${t.rbuddy.httpUrl}/metrics`, {
        headers: AUTH,
        signal: AbortSignal.timeout(5_000),
      })
    ).text(),
  );
  assert.ok(
    (sampleValue(metrics, 'rbuddy_state_write_failures_total') ?? 0) >= 3,
    'the failures are counted',
  );

  // The way cleared, the next request saves and the failover starts.
  await rm(file, { recursive: true });
  await requestFailover(t.rbuddy.httpUrl);
  await waitFor(() => t.rbuddy.status().stateStore.writable, { what: 'a successful write' });
  await waitFor(() => t.rbuddy.status().failover !== null, { what: 'the failover started' });
});
