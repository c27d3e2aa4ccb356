// What answers at a past leader's address (docs/ha.md, "Which replicas are repointed"), asked by
// a new leader before it repoints a replica that follows that address, since an address that
// once was an instance of the group may be something else now (a Redis master started on the
// freed port). Only two answers make the address still the group's: nothing answers (the
// instance is dead), or an rbuddy of this group does (its `SENTINEL myid` is a digest of the
// group and its own address, so no other server gives that id there). Anything else — an error
// reply, another id, a server that closes the connection or does not answer in time (a TLS
// listener this plain connection cannot speak to) — is not ours to repoint.
import { parseHostPort } from '../config/host-port.js';
import { createControlClient } from '../nodes/control-client.js';

type ControlClient = ReturnType<typeof createControlClient>;

export type AddressVerdict =
  /** The connection could not be made: no instance is alive there. */
  | { kind: 'gone'; why: string }
  /** An rbuddy of this group answers there (a deposed leader still running, say). */
  | { kind: 'instance' }
  /** Something else answers: what it said. */
  | { kind: 'foreign'; why: string }
  /** Connected, but no answer could be read: nothing is concluded (asked again later). */
  | { kind: 'unknown'; why: string };

export interface AddressCheckOptions {
  /** The `SENTINEL myid` an instance of this group answers at that address. */
  expectedId: string;
  /** The RESP listeners' password (instances of one group share it); '' when none. */
  password: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A reply as a short text for the log (an id, an error, a role): never long, never binary. */
function shown(reply: unknown): string {
  const text = Buffer.isBuffer(reply) ? reply.toString('latin1') : JSON.stringify(reply);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

/** Asks the server at `announce` who it is; never throws. */
export async function checkAddress(
  announce: string,
  options: AddressCheckOptions,
): Promise<AddressVerdict> {
  const parsed = parseHostPort(announce, 1);
  if (!parsed.ok) return { kind: 'foreign', why: `not an address: ${parsed.problem}` };
  let lastError: string | undefined;
  const client = createControlClient({
    // AUTH is sent below, by hand and only when asked for: a server that does not ask is not
    // given the password (and ioredis's own AUTH prints to stderr when it was not needed).
    endpoint: { address: parsed.value, user: '', password: '' },
    connectionName: 'rbuddy-takeover-check',
    connectTimeoutMs: options.connectTimeoutMs,
    commandTimeoutMs: options.commandTimeoutMs,
    reconnect: () => false,
    retriesPerCommand: 0,
    readyCheck: false,
    lazyConnect: true,
    onError: (error) => (lastError = error.message),
  });
  // ioredis's connect() also fails when the server closes the connection before its own first
  // commands are answered: only a connection never made says that nothing is there.
  let connected = false;
  client.once('connect', () => (connected = true));
  try {
    try {
      await client.connect();
    } catch (error) {
      const why = lastError ?? describe(error);
      return connected ? { kind: 'unknown', why } : { kind: 'gone', why };
    }
    let id: unknown;
    try {
      id = await myid(client, options.password);
    } catch (error) {
      if (!isReplyError(error)) return { kind: 'unknown', why: describe(error) };
      return { kind: 'foreign', why: `SENTINEL myid: ${error.message}${await role(client)}` };
    }
    if (id === options.expectedId) return { kind: 'instance' };
    return { kind: 'foreign', why: `SENTINEL myid: ${shown(id)}${await role(client)}` };
  } finally {
    client.disconnect();
  }
}

/** SENTINEL myid, authenticated first if the server answers NOAUTH and there is a password. */
async function myid(client: ControlClient, password: string): Promise<unknown> {
  try {
    return await client.call('SENTINEL', 'myid');
  } catch (error) {
    if (password === '' || !isReplyError(error) || !error.message.startsWith('NOAUTH')) throw error;
  }
  // Its answer does not matter: a server that refused it refuses SENTINEL myid again.
  await client.call('AUTH', password).catch(() => undefined);
  return client.call('SENTINEL', 'myid');
}

/** `, ROLE <its first element>` for the log (a Redis master says `master`), or ''. */
async function role(client: ControlClient): Promise<string> {
  try {
    const reply = await client.call('ROLE');
    return Array.isArray(reply) && reply.length > 0 ? `, ROLE ${shown(reply[0])}` : '';
  } catch (error) {
    return isReplyError(error) ? `, ROLE: ${error.message}` : '';
  }
}
