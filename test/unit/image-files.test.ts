// The Dockerfile, `npm run image:smoke` (scripts/image-smoke.sh and .ts) and the image's
// HEALTHCHECK (src/healthcheck.ts) kept in step without a Docker engine: the smoke takes minutes
// and needs root, so CI does not run it, but a change to one side that the other does not follow
// fails here.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SHUTDOWN_TIMEOUT_MS } from '../../src/cli.js';
import { loadConfig } from '../../src/config/load.js';
import { formatHostPort } from '../../src/config/types.js';
import { healthzUrl, rbuddyInvocation } from '../../src/healthcheck.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const dockerfile = read('Dockerfile')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((line) => !line.trim().startsWith('#'))
  .join('\n');
const pkg = JSON.parse(read('package.json')) as {
  version: string;
  license: string;
  scripts: Record<string, string>;
};

describe('the Dockerfile and npm run image:smoke', () => {
  it('every npm ci fails the build when it leaves no complete node_modules', () => {
    const installs = [...dockerfile.matchAll(/^RUN (.*\bnpm ci\b.*)$/gm)].map((m) => m[1] ?? '');
    assert.equal(installs.length, 2, 'the build and the runtime stage install');
    for (const install of installs) {
      assert.match(install, /npm ci [^&]*&& test -f node_modules\/\.package-lock\.json/);
    }
  });

  it('HEALTHCHECK runs src/healthcheck.ts as built', () => {
    const command = /^HEALTHCHECK .*CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    assert.deepEqual(JSON.parse(command ?? '[]'), ['node', 'dist/healthcheck.js']);
    assert.ok(existsSync(join(ROOT, 'src', 'healthcheck.ts')));
  });

  it('OCI labels: version (= package.json), licence (= package.json), source only when known', () => {
    assert.equal(/^ARG VERSION=(\S+)$/m.exec(dockerfile)?.[1], pkg.version);
    const labels = Object.fromEntries(
      [...dockerfile.matchAll(/(org\.opencontainers\.image\.\w+)="([^"]*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    assert.equal(labels['org.opencontainers.image.version'], '${VERSION}');
    assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
    // No invented source URL: it is given at build time (`docker build --label
    // org.opencontainers.image.source=…`), from package.json's repository when it names one.
    assert.equal(labels['org.opencontainers.image.source'], undefined);
    assert.doesNotMatch(dockerfile, /^ARG SOURCE/m);
    assert.doesNotMatch(dockerfile, /https?:\/\//);
    const checks = read('scripts/image-smoke.ts');
    assert.match(checks, /repository/);
    assert.match(checks, /'--label', `org\.opencontainers\.image\.source=\$\{source\}`/);
  });

  it('the smoke builds on the base the Dockerfile names, and passes the version', () => {
    const bases = new Set([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]));
    const script = read('scripts/image-smoke.sh');
    assert.deepEqual([...bases], [/^base=(\S+)$/m.exec(script)?.[1]]);
    assert.equal(pkg.scripts['image:smoke'], 'bash scripts/image-smoke.sh');
    assert.match(script, /tsx scripts\/image-smoke\.ts/);
    assert.match(script, /--bridge=none --iptables=false --ip6tables=false/);
    const checks = read('scripts/image-smoke.ts');
    assert.match(checks, /'--build-arg', `VERSION=\$\{version\}`/);
    assert.match(checks, /'build', '--network', 'host'/);
    assert.match(checks, /'--network',\s*'host'/);
  });

  it('docs/operations.md records a passing run of every check the smoke makes', () => {
    const names = [...read('scripts/image-smoke.ts').matchAll(/check\(\s*(['"])(.+?)\1,/g)].map(
      (m) => m[2] ?? '',
    );
    assert.ok(names.length >= 8, `only ${names.length} checks found`);
    const doc = read('docs/operations.md');
    const missing = names.filter((name) => !doc.includes(`ok   ${name}: `));
    assert.deepEqual(missing, [], 'run npm run image:smoke and paste its output');
    assert.ok(doc.includes('image smoke: all checks passed'));
  });
});

/** The runtime stage's ENV, with the image's /app mapped to this checkout (the same files). */
function imageEnv(): Record<string, string> {
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const [, rest = ''] of runtime.matchAll(/^ENV (.*)$/gm)) {
    for (const [, name = '', value = ''] of rest.matchAll(/(\w+)=(\S*)/g)) {
      env[name] = value.replace(/^\/app\//, `${ROOT}/`);
    }
  }
  return env;
}

describe('stopping: rbuddy exits before Docker kills it', () => {
  // `docker stop` sends SIGTERM, then SIGKILL after 10 s unless --time / --stop-timeout says
  // otherwise; Kubernetes waits terminationGracePeriodSeconds (30 s by default).
  const DOCKER_DEFAULT_STOP_MS = 10_000;

  it("rbuddy's own shutdown deadline ends well inside Docker's default 10 s", () => {
    assert.ok(
      SHUTDOWN_TIMEOUT_MS <= DOCKER_DEFAULT_STOP_MS - 2_000,
      `${SHUTDOWN_TIMEOUT_MS} ms leaves no margin before SIGKILL`,
    );
  });

  it('the Dockerfile says so, and docker-compose.yml gives rbuddy a longer grace', () => {
    const text = read('Dockerfile');
    assert.doesNotMatch(text, /Docker's and Kubernetes' default 30 s/);
    assert.match(text, /Docker's default is 10 s/);
    const compose = read('docker-compose.yml');
    const grace = /^ {4}stop_grace_period: (\d+)s$/m.exec(compose)?.[1];
    assert.ok(grace !== undefined && Number(grace) * 1000 > SHUTDOWN_TIMEOUT_MS, `${grace}`);
  });
});

describe("the image's defaults rank below the operator's config file", () => {
  const nodes = ['--master', '10.0.0.2:6379', '--active', 'a:1', '--standby', 'b:2'];

  it('with no config of their own: every interface, the state volume', () => {
    const config = loadConfig({ argv: nodes, env: imageEnv() });
    assert.equal(formatHostPort(config.http), '0.0.0.0:9999');
    assert.equal(config.listen === null ? '' : formatHostPort(config.listen), '0.0.0.0:6382');
    assert.equal(config.stateDir, '/var/lib/rbuddy');
    const exposed = /^EXPOSE (.*)$/m.exec(dockerfile)?.[1]?.split(/\s+/) ?? [];
    assert.deepEqual(exposed, ['6382', '9999']);
  });

  it("the operator's file (RBUDDY_CONFIG or --config) wins over the image's defaults", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbuddy-image-config-'));
    try {
      const file = join(dir, 'rbuddy.json');
      writeFileSync(file, JSON.stringify({ http: '127.0.0.1:29999', stateDir: '/data/rbuddy' }));
      for (const config of [
        loadConfig({ argv: nodes, env: { ...imageEnv(), RBUDDY_CONFIG: file } }),
        loadConfig({ argv: [...nodes, '--config', file], env: imageEnv() }),
      ]) {
        assert.equal(formatHostPort(config.http), '127.0.0.1:29999');
        assert.equal(config.stateDir, '/data/rbuddy');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// What rbuddy itself needs to start: the healthcheck loads the whole configuration, as rbuddy did.
const NODES = {
  RBUDDY_MASTER: '10.0.0.2:6379',
  RBUDDY_ACTIVE: '10.0.0.5:6379',
  RBUDDY_STANDBY: '10.0.0.6:6379',
};
const urlFor = (env: Record<string, string>, argv: string[] = []): string =>
  healthzUrl({ argv, env: { ...NODES, ...env } });

describe('the HEALTHCHECK URL is the admin listener rbuddy configured', () => {
  it('a wildcard bind is probed on loopback', () => {
    assert.equal(urlFor({ RBUDDY_HTTP: '0.0.0.0:9999' }), 'http://127.0.0.1:9999/healthz');
    assert.equal(urlFor({ RBUDDY_HTTP: '[::]:9000' }), 'http://[::1]:9000/healthz');
  });

  it('a specific address or a host name is probed as given', () => {
    assert.equal(urlFor({ RBUDDY_HTTP: '10.1.2.3:9999' }), 'http://10.1.2.3:9999/healthz');
    assert.equal(urlFor({ RBUDDY_HTTP: '127.0.0.2:80' }), 'http://127.0.0.2:80/healthz');
    assert.equal(urlFor({ RBUDDY_HTTP: '[fd00::5]:9999' }), 'http://[fd00::5]:9999/healthz');
    assert.equal(
      urlFor({ RBUDDY_HTTP: 'rbuddy-0.rbuddy:9999' }),
      'http://rbuddy-0.rbuddy:9999/healthz',
    );
  });

  it("rbuddy's default without RBUDDY_HTTP; HTTPS when the admin listener has a certificate", () => {
    assert.equal(urlFor({}), 'http://127.0.0.1:9999/healthz');
    assert.equal(
      urlFor({
        RBUDDY_HTTP: '0.0.0.0:9999',
        RBUDDY_HTTP_TLS_CERT_FILE: '/tls/tls.crt',
        RBUDDY_HTTP_TLS_KEY_FILE: '/tls/tls.key',
      }),
      'https://127.0.0.1:9999/healthz',
    );
  });

  it('flags win over the environment, as they do for rbuddy', () => {
    assert.equal(
      urlFor({ RBUDDY_HTTP: '0.0.0.0:9999' }, ['--http', '127.0.0.4:29998']),
      'http://127.0.0.4:29998/healthz',
    );
  });

  it('a config file (--config or RBUDDY_CONFIG) that sets http and the HTTPS certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbuddy-healthcheck-'));
    try {
      const file = join(dir, 'rbuddy.json');
      writeFileSync(
        file,
        JSON.stringify({
          http: '127.0.0.5:29997',
          httpTlsCertFile: '/tls/tls.crt',
          httpTlsKeyFile: '/tls/tls.key',
        }),
      );
      assert.equal(urlFor({ RBUDDY_CONFIG: file }), 'https://127.0.0.5:29997/healthz');
      assert.equal(urlFor({}, ['--config', file]), 'https://127.0.0.5:29997/healthz');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('port 0 cannot be probed: a clear error', () => {
    assert.throws(() => urlFor({ RBUDDY_HTTP: '0.0.0.0:0' }), /port 0 .*give .*a fixed port/);
  });

  it('a bad RBUDDY_HTTP is the same clear error rbuddy gives', () => {
    assert.throws(() => urlFor({ RBUDDY_HTTP: 'nope' }), /invalid setting "http" from RBUDDY_HTTP/);
  });
});

describe("the HEALTHCHECK reads the running rbuddy's argv and environment (PID 1)", () => {
  function fakeProc(cmdline: string[], environ: string[]): string {
    const root = mkdtempSync(join(tmpdir(), 'rbuddy-proc-'));
    mkdirSync(join(root, '1'));
    writeFileSync(join(root, '1', 'cmdline'), cmdline.map((arg) => `${arg}\0`).join(''));
    writeFileSync(join(root, '1', 'environ'), environ.map((kv) => `${kv}\0`).join(''));
    return root;
  }

  it('PID 1 is `node dist/cli.js --http …`: its flag and its environment decide', () => {
    const root = fakeProc(
      ['node', '--enable-source-maps', 'dist/cli.js', '--http', '127.0.0.4:29998'],
      ['RBUDDY_MASTER=10.0.0.2:6379', 'RBUDDY_ACTIVE=a:1', 'RBUDDY_STANDBY=b:2', 'X=a=b'],
    );
    try {
      const invocation = rbuddyInvocation(root);
      assert.deepEqual(invocation?.argv, ['--http', '127.0.0.4:29998']);
      assert.equal(invocation?.env.X, 'a=b');
      assert.equal(
        healthzUrl(invocation ?? { argv: [], env: {} }),
        'http://127.0.0.4:29998/healthz',
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('PID 1 is something else (an init): none', () => {
    const root = fakeProc(['/sbin/docker-init', '--', 'node', 'dist/cli.js'], []);
    try {
      assert.equal(rbuddyInvocation(root), undefined);
      assert.equal(rbuddyInvocation(join(root, 'missing')), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
