// The image's HEALTHCHECK (`node dist/healthcheck.js`): GET /healthz on the admin listener the
// running rbuddy configured. Slim images have no curl, and a probe of a fixed address fails when
// rbuddy binds one specific address (a pod IP, a second loopback address), a host name, another
// port given as a flag (`docker run … rbuddy --http …`), or one set in its config file. So the
// healthcheck reads rbuddy's own argv and environment (PID 1 in the image: /proc/1/cmdline and
// /proc/1/environ, readable by the same user), runs them through rbuddy's config loader from
// rbuddy's working directory, and probes the address and scheme that gives. When PID 1 is not
// rbuddy (`docker run --init`, or a test outside a container) it uses its own argv and
// environment instead. Exit 0 when /healthz answers 200, else 1 with one line saying why.
import { readFileSync, readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIPv6 } from 'node:net';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from './config/load.js';

const TIMEOUT_MS = 2_000;

/** How a process was started: its arguments (after the script) and its environment. */
export interface Invocation {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  cwd?: string;
}

function nulSeparated(text: string): string[] {
  return text.split('\0').filter((part, index, all) => part !== '' || index < all.length - 1);
}

/**
 * PID 1's invocation when PID 1 is rbuddy (`node [node options] …/cli.js [flags]`), else
 * undefined. `proc` is /proc (tests give a directory laid out the same way).
 */
export function rbuddyInvocation(proc = '/proc'): Invocation | undefined {
  let cmdline: string[];
  let environ: string[];
  try {
    cmdline = nulSeparated(readFileSync(join(proc, '1', 'cmdline'), 'utf8'));
    environ = nulSeparated(readFileSync(join(proc, '1', 'environ'), 'utf8'));
  } catch {
    return undefined;
  }
  if (!/^node(js)?$/.test(basename(cmdline[0] ?? ''))) return undefined;
  const script = cmdline.findIndex((arg, index) => index > 0 && !arg.startsWith('-'));
  if (script === -1 || basename(cmdline[script] ?? '') !== 'cli.js') return undefined;
  const env: Record<string, string> = {};
  for (const entry of environ) {
    const equals = entry.indexOf('=');
    if (equals > 0) env[entry.slice(0, equals)] = entry.slice(equals + 1);
  }
  let cwd: string | undefined;
  try {
    cwd = readlinkSync(join(proc, '1', 'cwd'));
  } catch {
    cwd = undefined;
  }
  return { argv: cmdline.slice(script + 1), env, ...(cwd === undefined ? {} : { cwd }) };
}

/**
 * The URL of /healthz for the admin listener these argv and environment configure, by rbuddy's
 * own loader (defaults < config file < env < flags). Throws its ConfigError on a bad setting, and
 * a clear error for port 0, which only the running process knows.
 */
export function healthzUrl(invocation: Invocation): string {
  const config = loadConfig({ argv: invocation.argv, env: invocation.env });
  const { host, port } = config.http;
  if (port === 0) {
    throw new Error(
      `rbuddy's admin listener binds port 0 (a port the kernel chooses), which a healthcheck cannot know: give --http (RBUDDY_HTTP, or "http" in the config file) a fixed port`,
    );
  }
  // A wildcard bind answers on loopback; any other address or name is probed as given.
  const target =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : isIPv6(host) ? `[${host}]` : host;
  const tls = config.httpTlsCertFile !== '';
  return `${tls ? 'https' : 'http'}://${target}:${port}/healthz`;
}

/** Whether /healthz answers 200 within the timeout. */
export function probeHealthz(url: string): Promise<boolean> {
  const target = new URL(url);
  // The probe checks liveness, not the certificate (which need not name the bound address).
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const request = send(target, { timeout: TIMEOUT_MS, rejectUnauthorized: false }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
    request.end();
  });
}

async function main(): Promise<void> {
  let url: string;
  try {
    const invocation = rbuddyInvocation() ?? { argv: process.argv.slice(2), env: process.env };
    // A relative --config path is relative to where rbuddy runs.
    if (invocation.cwd !== undefined) process.chdir(invocation.cwd);
    url = healthzUrl(invocation);
  } catch (error) {
    process.stderr.write(
      `rbuddy healthcheck: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  const healthy = await probeHealthz(url);
  if (!healthy) process.stderr.write(`rbuddy healthcheck: ${url} did not answer 200\n`);
  process.exit(healthy ? 0 : 1);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
