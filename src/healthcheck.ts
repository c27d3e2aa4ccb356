// The image's HEALTHCHECK (`node dist/healthcheck.js`): GET /healthz on the admin listener that
// the container's environment configures, whatever address RBUDDY_HTTP binds. Slim images have no
// curl, and a probe of 127.0.0.1 alone fails when rbuddy binds one specific address (a pod IP, a
// second loopback address) or a host name. Exit 0 when /healthz answers 200, else 1.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIPv6 } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseHostPort } from './config/host-port.js';

const DEFAULT_HTTP = '127.0.0.1:9999';
const TIMEOUT_MS = 2_000;

/** The URL of /healthz for an admin listener configured by these RBUDDY_* variables. */
export function healthzUrl(env: NodeJS.ProcessEnv): string {
  const text = env.RBUDDY_HTTP ?? DEFAULT_HTTP;
  const parsed = parseHostPort(text, 1);
  if (!parsed.ok) throw new Error(`RBUDDY_HTTP ${JSON.stringify(text)}: ${parsed.problem}`);
  const { host, port } = parsed.value;
  // A wildcard bind answers on loopback; any other address or name is probed as given.
  const target =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : isIPv6(host) ? `[${host}]` : host;
  const tls = (env.RBUDDY_HTTP_TLS_CERT_FILE ?? '') !== '';
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
    url = healthzUrl(process.env);
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
