// The configuration as it may be logged (cli.ts logs it at start): secrets replaced, credentials
// and tokens in URLs hidden. REDACTED is the one marker for a hidden secret, in the logger too.

import { isHostPort } from './host-port.js';
import { parseUrl } from './formats.js';
import { SENSITIVE_KEYS, SETTING_KEYS } from './schema.js';
import { formatHostPort, type RbuddyConfig } from './types.js';

export const REDACTED = '[redacted]';

/** Webhook URLs often carry a token in the path or query: keep only scheme, host and port. */
function redactWebhookUrl(text: string): string {
  const url = parseUrl(text);
  if (url === undefined) return REDACTED;
  const hidden = url.pathname !== '/' || url.search !== '' || url.username !== '';
  return hidden ? `${url.protocol}//${url.host}/${REDACTED}` : `${url.protocol}//${url.host}/`;
}

/** redis://user:password@host: hide the password (and any query, which can hold one too). */
function redactPublishTarget(text: string): string {
  const url = parseUrl(text);
  if (url === undefined) return text === 'replicas' || text === 'none' ? text : REDACTED;
  // Built by hand: assigning url.password would percent-encode the brackets of "[redacted]".
  const user = url.username === '' && url.password === '' ? '' : url.username;
  const auth = url.password === '' ? user : `${user}:${REDACTED}`;
  const query = url.search === '' ? '' : `?${REDACTED}`;
  return `${url.protocol}//${auth === '' ? '' : `${auth}@`}${url.host}${url.pathname}${query}`;
}

/**
 * The configuration as it may be logged: sensitive settings replaced by "[redacted]" (when set;
 * an empty one stays empty so that "no password configured" is visible), credentials in URLs
 * hidden, addresses as host:port.
 */
export function redactedConfig(config: RbuddyConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const key of SETTING_KEYS) {
    const value = out[key];
    const empty =
      value === '' || value === undefined || (Array.isArray(value) && value.length === 0);
    if (SENSITIVE_KEYS.includes(key) && !empty) {
      out[key] = REDACTED;
    } else if (isHostPort(value)) {
      out[key] = formatHostPort(value);
    }
  }
  out.webhook = config.webhook.map(redactWebhookUrl);
  out.publish = config.publish.map(redactPublishTarget);
  return out;
}
