// The kinds of value a setting can hold. Each format says how a string from the environment, a
// flag or the config file becomes a value (coerce), what makes a value wrong (validate: an error
// that names the problem without quoting the value), what a config file may give for it, and how
// --help shows it. load.ts registers them with convict under their names.

import { isIP } from 'node:net';
import { isHostPort, parseHostPort } from './host-port.js';
import { ordinal, splitList, stringList } from './lists.js';
import { parseIdentityPatterns } from '../tls/peer-identity.js';
import { parseReplicaCredential } from './replica-credentials.js';
import {
  formatHostPort,
  type GuardEmpty,
  type RbuddyConfig,
  type TlsAuthClients,
} from './types.js';

/** Node's timers overflow above 2^31 - 1 ms and then fire after 1 ms: never accept more. */
const MAX_TIMER_MS = 2_147_483_647;

const GUARD_EMPTY_VALUES: readonly GuardEmpty[] = ['hold', 'switch'];
const TLS_AUTH_CLIENTS_VALUES: readonly TlsAuthClients[] = ['yes', 'no', 'optional'];
const LOG_LEVELS: readonly RbuddyConfig['logLevel'][] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export type FormatName =
  | 'host-port'
  | 'bind-address'
  | 'text'
  | 'nonempty-text'
  | 'group-name'
  | 'positive-int'
  | 'duration-ms'
  | 'positive-duration-ms'
  | 'boolean-flag'
  | 'yes-no'
  | 'guard-empty'
  | 'ratio'
  | 'log-level'
  | 'url-list'
  | 'host-list'
  | 'replica-credentials'
  | 'publish-targets'
  | 'bind-address-or-none'
  | 'file'
  | 'tls-auth-clients'
  | 'tls-identity'
  | 'etcd-endpoints'
  | 'etcd-lease-ms'
  | 'etcd-prefix';

/** The JSON types a config file value may have. */
export type FileType = 'string' | 'number' | 'boolean' | 'string-array';

interface FormatSpec {
  /** Shown after the flag in --help, e.g. `--master HOST:PORT`. */
  placeholder: string;
  /**
   * Whether an invalid value may be quoted back in the error. Never for URL lists: webhook URLs
   * often carry a token in their path and redis:// URLs a password, even when malformed.
   */
  echo: boolean;
  /** What a config file may hold for this setting, checked before convict sees the file. */
  fileTypes: readonly FileType[];
  /** From a string (env, flag, file); must not throw, so that validate() can name the setting. */
  coerce?: (raw: string) => unknown;
  /** Throws an Error that says what is wrong, without quoting the value. */
  validate: (value: unknown) => void;
}

function addressFormat(minPort: 0 | 1, placeholder: string): FormatSpec {
  return {
    placeholder,
    echo: true,
    fileTypes: ['string'],
    // A string that does not parse stays a string, so that validate() reports why.
    coerce: (raw) => {
      const parsed = parseHostPort(raw, minPort);
      return parsed.ok ? parsed.value : raw;
    },
    validate: (value) => {
      const text = isHostPort(value) ? formatHostPort(value) : value;
      if (typeof text !== 'string') throw new Error('must be a "host:port" string');
      const parsed = parseHostPort(text, minPort);
      if (!parsed.ok) throw new Error(parsed.problem);
    },
  };
}

function integerFormat(min: 0 | 1, placeholder: string, unit: string): FormatSpec {
  return {
    placeholder,
    echo: true,
    fileTypes: ['number', 'string'],
    coerce: (raw) => (/^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : raw),
    validate: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new Error(`must be a whole number${unit}`);
      }
      if (value < 0) throw new Error(`must not be negative`);
      if (value < min) throw new Error(`must be at least ${min}`);
      if (value > MAX_TIMER_MS) {
        throw new Error(`must be at most ${MAX_TIMER_MS} (the longest a Node.js timer can wait)`);
      }
    },
  };
}

function booleanFormat(placeholder: string, words: string): FormatSpec {
  return {
    placeholder,
    echo: true,
    fileTypes: ['boolean', 'string'],
    // convict's own Boolean coercion turns every string but "false" into true ("flase" → true);
    // an unrecognised word must be an error instead.
    coerce: (raw) => {
      const word = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(word)) return true;
      if (['false', '0', 'no', 'off'].includes(word)) return false;
      return raw;
    },
    validate: (value) => {
      if (typeof value !== 'boolean') throw new Error(`must be ${words}`);
    },
  };
}

function enumFormat(values: readonly string[]): FormatSpec {
  return {
    placeholder: values.join('|'),
    echo: true,
    fileTypes: ['string'],
    coerce: (raw) => raw.trim(),
    validate: (value) => {
      if (typeof value !== 'string' || !values.includes(value)) {
        throw new Error(`must be one of: ${values.join(', ')}`);
      }
    },
  };
}

function stringFormat(placeholder: string, check?: (value: string) => string | undefined) {
  const spec: FormatSpec = {
    placeholder,
    echo: true,
    fileTypes: ['string'],
    validate: (value) => {
      if (typeof value !== 'string') throw new Error('must be a string');
      const problem = check?.(value);
      if (problem !== undefined) throw new Error(problem);
    },
  };
  return spec;
}

/**
 * The shortest etcd lease rbuddy accepts: etcd raises a shorter TTL to its own minimum (1.5 times
 * its election timeout, 1.5 s by default, rounded up to whole seconds), which would make the
 * leader's renew deadline wrong.
 */
export const MIN_ETCD_LEASE_MS = 2_000;
/** A longer lease is a longer outage after a leader dies, for no gain. */
export const MAX_ETCD_LEASE_MS = 300_000;

/** Why an etcd endpoint is not `http(s)://host:port`, or undefined when it is one. */
function etcdEndpointProblem(text: string): string | undefined {
  const url = parseUrl(text);
  if (url === undefined || url.hostname === '') return 'is not a valid URL';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return 'must use http:// or https://';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials (use --etcd-user and --etcd-password)';
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return 'must be only scheme, host and port (no path or query)';
  }
  if (url.port === '') return 'needs a port (etcd listens on 2379 by default)';
  return undefined;
}

/** A URL, or undefined: `new URL` throws on text that is not one. */
export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

export const FORMATS: Readonly<Record<FormatName, FormatSpec>> = {
  'host-port': addressFormat(1, 'HOST:PORT'),
  // Listeners may bind port 0 (the kernel picks a free one), which tests rely on.
  'bind-address': addressFormat(0, 'HOST:PORT'),
  text: stringFormat('VALUE'),
  'nonempty-text': stringFormat('VALUE', (value) =>
    value.trim() === '' ? 'must not be empty' : undefined,
  ),
  // The group name is a word in Sentinel's space separated `+switch-master <group> …` message, and
  // with --etcd one path segment of `<prefix>/<group>/`: a `/` would let one group's keys fall
  // inside another's range (group `g1/members` writing among g1's members).
  'group-name': stringFormat('NAME', (value) =>
    /^[A-Za-z0-9_.-]{1,64}$/.test(value) && !/^\.+$/.test(value)
      ? undefined
      : 'must be 1 to 64 characters of letters, digits, "_", "." and "-" (no "/" or spaces)',
  ),
  'positive-int': integerFormat(1, 'N', ''),
  'duration-ms': integerFormat(0, 'MS', ' of milliseconds'),
  'positive-duration-ms': integerFormat(1, 'MS', ' of milliseconds'),
  'boolean-flag': booleanFormat('[=true|false]', 'true or false'),
  // Redis's own spelling for its switches (`--protected-mode no`), which operators will type; it
  // takes a value like any other flag, unlike the bare boolean flags above.
  'yes-no': booleanFormat('yes|no', 'yes or no'),
  'guard-empty': enumFormat(GUARD_EMPTY_VALUES),
  ratio: {
    placeholder: 'RATIO',
    echo: true,
    fileTypes: ['number', 'string'],
    coerce: (raw) => (/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(raw) ? Number(raw) : raw),
    validate: (value) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Error('must be a number from 0 to 1, e.g. 0.5');
      }
      if (value < 0 || value > 1) throw new Error('must be from 0 to 1');
    },
  },
  'log-level': enumFormat(LOG_LEVELS),
  'url-list': {
    placeholder: 'URL[,URL...]',
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const urls = stringList(value);
      urls.forEach((text, index) => {
        const url = parseUrl(text);
        if (url === undefined || url.hostname === '') {
          throw new Error(`${ordinal(index, urls.length)} is not a valid URL`);
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') {
          throw new Error(`${ordinal(index, urls.length)} must use http:// or https://`);
        }
      });
    },
  },
  'host-list': {
    placeholder: 'NAME[,NAME...]',
    echo: true,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const names = stringList(value);
      names.forEach((name, index) => {
        // What a Host header names: a DNS name or an IP literal, without a port (any port).
        const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
        if (!isIP(bare) && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/.test(bare)) {
          throw new Error(
            `${ordinal(index, names.length)} is not a host name or IP address (no scheme, port or path)`,
          );
        }
      });
    },
  },
  'replica-credentials': {
    placeholder: 'USER:PASSWORD@HOST:PORT[,...]',
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const entries = stringList(value);
      entries.forEach((entry, index) => {
        if (parseReplicaCredential(entry) === undefined) {
          throw new Error(
            `${ordinal(index, entries.length)} must be USER:PASSWORD@HOST:PORT (the replica's masteruser and masterauth, and its address as configured)`,
          );
        }
      });
    },
  },
  'publish-targets': {
    placeholder: 'replicas|none|redis://...[,...]',
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const targets = stringList(value);
      if (targets.length === 0)
        throw new Error('must not be empty (use "none" to publish nowhere)');
      if (targets.includes('none') && targets.length > 1) {
        throw new Error('"none" cannot be combined with other targets');
      }
      targets.forEach((target, index) => {
        if (target === 'replicas' || target === 'none') return;
        const url = parseUrl(target);
        if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
          throw new Error(
            `entry ${index + 1} must be "replicas", "none" or a redis:// or rediss:// URL`,
          );
        }
        if (url.hostname === '') throw new Error(`entry ${index + 1} has no host`);
      });
    },
  },
  // `--listen none`: only the TLS listener serves (as Redis's `port 0` beside its tls-port).
  'bind-address-or-none': {
    ...addressFormat(0, 'HOST:PORT|none'),
    coerce: (raw) => {
      if (raw.trim().toLowerCase() === 'none') return null;
      const parsed = parseHostPort(raw, 0);
      return parsed.ok ? parsed.value : raw;
    },
  },
  file: stringFormat('FILE'),
  'tls-auth-clients': enumFormat(TLS_AUTH_CLIENTS_VALUES),
  'tls-identity': {
    placeholder: 'cn:|dns:|ip:|uri:NAME[,...]',
    echo: true,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      // Throws with the pattern and what is wrong with it; the caller adds the setting's name.
      parseIdentityPatterns(stringList(value).join(','), 'pattern');
    },
  },
  'etcd-endpoints': {
    placeholder: 'URL[,URL...]',
    // An endpoint might have been given with a password in it (refused, never quoted).
    echo: false,
    fileTypes: ['string', 'string-array'],
    coerce: splitList,
    validate: (value) => {
      const urls = stringList(value);
      urls.forEach((text, index) => {
        const problem = etcdEndpointProblem(text);
        if (problem !== undefined) throw new Error(`${ordinal(index, urls.length)} ${problem}`);
      });
    },
  },
  'etcd-lease-ms': {
    ...integerFormat(1, 'MS', ' of milliseconds'),
    validate: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new Error('must be a whole number of milliseconds');
      }
      if (value < MIN_ETCD_LEASE_MS || value > MAX_ETCD_LEASE_MS) {
        throw new Error(`must be from ${MIN_ETCD_LEASE_MS} to ${MAX_ETCD_LEASE_MS}`);
      }
      if (value % 1000 !== 0) {
        throw new Error('must be whole seconds (etcd counts leases in seconds), e.g. 5000');
      }
    },
  },
  'etcd-prefix': stringFormat('PREFIX', (value) =>
    /^(\/[^/\s]+)+$/.test(value)
      ? undefined
      : 'must start with "/", with no spaces, empty segments or trailing "/" (e.g. /rbuddy)',
  ),
};
