// The checks of `npm run image:smoke` (scripts/image-smoke.sh provides the engine and the base
// image): build the repository's Dockerfile unchanged, run it on host networking against three
// local redis-servers, and check what an operator relies on. One line per check; exit 1 on any
// failure. The container, its state volume and the redis-servers are removed on the way out.
import { execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { freePort } from '../harness/processes.js';
import { startReader, stopAllReaders } from '../harness/reader.js';
import { startRedis, stopAllRedis, type RedisServer } from '../harness/redis-server.js';
import { masterStats, populate, waitForInSync } from '../harness/replication.js';
import { assertHeldStandby } from '../harness/held-standby.js';
import { waitFor } from '../harness/wait-for.js';

const exec = promisify(execFile);
const TAG = 'rbuddy:smoke';
// scripts/image-smoke.sh names the run, so that it can remove the container on a signal too.
const run = process.env.RBUDDY_SMOKE_RUN ?? `${process.pid}`;
const NAME = `rbuddy-smoke-${run}`;
const VOLUME = `rbuddy-smoke-state-${run}`;
// The failover engine's pace for the smoke (the defaults are for production).
const TIMINGS = {
  RBUDDY_GRACE_MS: '1000',
  RBUDDY_DRAIN_MS: '1000',
  RBUDDY_PROBE_INTERVAL_MS: '200',
  RBUDDY_PROBE_TIMEOUT_MS: '1000',
};

/** The docker commands in flight: a signal ends them before the clean-up. */
const running = new Set<ChildProcess>();
/** Set by SIGINT/SIGTERM: from then on only the clean-up runs docker. */
let interrupted = false;

async function runDocker(args: string[]): Promise<string> {
  const pending = exec('docker', args, { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
  running.add(pending.child);
  try {
    return (await pending).stdout.trim();
  } finally {
    running.delete(pending.child);
  }
}

async function docker(...args: string[]): Promise<string> {
  if (interrupted) throw new Error('interrupted');
  return runDocker(args);
}

let failures = 0;
async function check(name: string, body: () => Promise<string>): Promise<boolean> {
  const started = Date.now();
  try {
    const detail = await body();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`ok   ${name}: ${detail} (${seconds} s)`);
    return true;
  } catch (error) {
    failures += 1;
    const text = error instanceof Error ? error.message : String(error);
    console.log(`FAIL ${name}: ${text.split('\n').slice(0, 12).join('\n     ')}`);
    return false;
  }
}

interface Status {
  state: string;
  epoch: number | null;
  active: string;
  standby: string;
}

async function main(): Promise<void> {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    version: string;
    repository?: string | { url?: string };
  };
  const { version } = pkg;
  // The OCI source label only when package.json says where the source lives (never invented).
  const source = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  const built = await check('the image builds', async () => {
    // --no-cache (`npm run image:smoke -- --no-cache`): every step runs, npm ci included.
    const noCache = process.argv.includes('--no-cache') ? ['--no-cache'] : [];
    const tagged = ['--build-arg', `VERSION=${version}`, '-t', TAG];
    if (source !== undefined && source !== '') {
      tagged.push('--label', `org.opencontainers.image.source=${source}`);
    }
    // The build stage tagged as well: untagged, its layers would be dangling images, which the
    // script prunes at the end, and the next run would redo its npm ci.
    await docker(
      'build',
      '--network',
      'host',
      ...noCache,
      '--target',
      'build',
      '-t',
      `${TAG}-build`,
      '.',
    );
    await docker('build', '--network', 'host', ...noCache, ...tagged, '.');
    const size = Number(await docker('image', 'inspect', TAG, '--format', '{{.Size}}'));
    const labels = await docker(
      'image',
      'inspect',
      TAG,
      '--format',
      '{{index .Config.Labels "org.opencontainers.image.version"}} {{index .Config.Labels "org.opencontainers.image.licenses"}} {{or (index .Config.Labels "org.opencontainers.image.source") "(no source label: package.json names no repository)"}}',
    );
    const cache = noCache.length > 0 ? 'no layer cache' : "the engine's layer cache allowed";
    return `${TAG}, ${(size / 1e6).toFixed(0)} MB, labels version/licence/source ${labels}, ${cache}`;
  });
  if (!built) return;

  const [master, active, standby] = await Promise.all([
    startRedis({ name: 'master', args: { 'repl-diskless-sync': 'no' } }),
    startRedis({ name: 'active' }),
    startRedis({ name: 'standby' }),
  ]);
  await populate(master.client(), { megabytes: 20 });
  await master.client().set('reader-key', 'reader-value');
  const listen = await freePort();
  // One specific address that is not 127.0.0.1 (as a pod IP would be), given as a flag after the
  // image name: the HEALTHCHECK must probe what the running rbuddy binds (it reads PID 1's argv),
  // not a fixed loopback address nor only what RBUDDY_HTTP says.
  const httpUrl = `http://127.0.0.2:${await freePort()}`;
  const http = httpUrl.slice('http://'.length);
  const env = {
    RBUDDY_MASTER: master.address,
    RBUDDY_ACTIVE: active.address,
    RBUDDY_STANDBY: standby.address,
    RBUDDY_LISTEN: `127.0.0.1:${listen}`,
    RBUDDY_ANNOUNCE: `127.0.0.1:${listen}`,
    ...TIMINGS,
  };
  const status = async (): Promise<Status> => {
    const response = await fetch(`${httpUrl}/v1/status`, { signal: AbortSignal.timeout(2000) });
    return (await response.json()) as Status;
  };
  const explain = async (): Promise<string> =>
    `${JSON.stringify(await status().catch(() => 'no status'))}\n${await docker('logs', '--tail', '15', NAME).catch(() => '')}`;

  await docker('volume', 'create', VOLUME);
  await docker(
    'run',
    '--detach',
    '--name',
    NAME,
    '--network',
    'host',
    '--volume',
    `${VOLUME}:/var/lib/rbuddy`,
    ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    TAG,
    '--http',
    http,
  );

  await check('/v1/status healthy with the active synced', async () => {
    await waitFor(async () => (await status()).state === 'healthy', {
      what: 'state healthy',
      timeoutMs: 60_000,
      explain,
    });
    await waitForInSync(master.client(), active.client());
    return `state healthy, active ${active.address} in sync with the master`;
  });
  await check("Docker's health status healthy (HEALTHCHECK)", async () => {
    const health = async (): Promise<string> =>
      docker('inspect', NAME, '--format', '{{.State.Health.Status}}');
    await waitFor(async () => (await health()) === 'healthy', {
      what: 'health status healthy',
      timeoutMs: 90_000,
      explain: async () => docker('inspect', NAME, '--format', '{{json .State.Health}}'),
    });
    return `healthy, admin listener given as the flag --http ${http}`;
  });
  await check('failover cycle inside the container, 0 failed reads', () =>
    failoverCycle(master, active, standby, httpUrl, status, explain),
  );
  await check('state survives docker restart (no full sync, same epoch)', async () => {
    const before = await status();
    const fullSyncs = (await masterStats(master.client())).syncFull;
    await docker('restart', NAME);
    await waitFor(async () => (await status()).state === 'healthy', {
      what: 'healthy after docker restart',
      timeoutMs: 60_000,
      explain,
    });
    await waitForInSync(master.client(), standby.client());
    const after = await status();
    const fullSyncsAfter = (await masterStats(master.client())).syncFull;
    if (after.epoch !== before.epoch) throw new Error(`epoch ${before.epoch} → ${after.epoch}`);
    if (after.active !== before.active)
      throw new Error(`active ${before.active} → ${after.active}`);
    if (fullSyncsAfter !== fullSyncs)
      throw new Error(`full syncs ${fullSyncs} → ${fullSyncsAfter}`);
    return `epoch ${after.epoch}, active ${after.active}, master's sync_full stayed ${fullSyncs}`;
  });
  await check('runs as a non-root user', async () => {
    // Asked inside the container (docker exec), not in the host's /proc: the engine may be remote.
    const uid = await docker('exec', NAME, 'id', '-u');
    const user = await docker('exec', NAME, 'id', '-un');
    const pid1 = await docker('exec', NAME, 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline');
    if (uid === '' || uid === '0') throw new Error(`runs as uid ${uid}`);
    return `uid ${uid} (${user}); PID 1 is ${pid1.trim()}`;
  });
  await check('docker stop exits 0 within 10 s', async () => {
    const started = Date.now();
    await docker('stop', '--time', '30', NAME);
    const seconds = (Date.now() - started) / 1000;
    const code = await docker('inspect', NAME, '--format', '{{.State.ExitCode}}');
    if (code !== '0') throw new Error(`exit code ${code}`);
    if (seconds >= 10) throw new Error(`took ${seconds.toFixed(1)} s`);
    return `exit code 0 after ${seconds.toFixed(1)} s`;
  });
  await check('nothing written outside the state volume', async () => {
    const diff = await docker('diff', NAME);
    if (diff !== '') throw new Error(`docker diff:\n${diff}`);
    const files = await docker(
      'run',
      '--rm',
      '--network',
      'none',
      '--volume',
      `${VOLUME}:/state`,
      '--entrypoint',
      'ls',
      TAG,
      '/state',
    );
    return `docker diff empty; the volume holds ${files.split('\n').join(', ')}`;
  });
}

async function failoverCycle(
  master: RedisServer,
  active: RedisServer,
  standby: RedisServer,
  httpUrl: string,
  status: () => Promise<Status>,
  explain: () => Promise<string>,
): Promise<string> {
  const epoch = (await status()).epoch ?? -1;
  const reader = startReader({ httpUrl, key: 'reader-key', expected: 'reader-value' });
  await waitFor(() => reader.ok >= 20, { what: 'the reader to read' });
  await master.client().save();
  await master.kill9();
  await waitFor(async () => (await status()).state !== 'healthy', {
    what: 'rbuddy to see the master gone',
    explain,
  });
  await waitFor(() => reader.ok >= 60, { what: 'reads while the master is away' });
  await master.restart();
  await waitFor(
    async () => {
      const now = await status();
      return now.state === 'healthy' && now.epoch === epoch + 1;
    },
    { what: 'the switch to complete', timeoutMs: 180_000, explain },
  );
  await waitFor(() => reader.ok >= 120, { what: 'reads after the switch' });
  const result = await reader.stop();
  if (result.failed !== 0) {
    throw new Error(`${result.failed} failed reads: ${result.errors.join('; ')}`);
  }
  const now = await status();
  if (now.active !== standby.address) throw new Error(`active ${now.active} after the switch`);
  await waitForInSync(master.client(), standby.client());
  // The old active is flushed and held: an empty replica of rbuddy, -MASTERDOWN, -READONLY.
  await assertHeldStandby(active.client(), 'image-smoke:on-the-new-standby');
  return `${result.ok} reads, 0 failed; epoch ${epoch} → ${now.epoch}; active ${now.active}, old active flushed and held`;
}

async function cleanUp(): Promise<void> {
  await stopAllReaders();
  await runDocker(['rm', '--force', NAME]).catch(() => '');
  await runDocker(['volume', 'rm', '--force', VOLUME]).catch(() => '');
  await stopAllRedis();
}

// Ctrl-C or SIGTERM (scripts/image-smoke.sh forwards its own): end the docker command in flight,
// remove the container, the volume and the redis-servers, exit 128 + the signal's number. A
// second signal while that runs is ignored: the clean-up is what it would interrupt.
for (const [signal, number] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.log(`image smoke: ${signal}: removing ${NAME}, its volume and the redis-servers`);
    for (const child of running) child.kill('SIGTERM');
    void cleanUp().finally(() => process.exit(128 + number));
  });
}

try {
  await main();
} catch (error) {
  failures += 1;
  console.log(`FAIL image smoke: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await cleanUp();
}
console.log(failures === 0 ? 'image smoke: all checks passed' : `image smoke: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
