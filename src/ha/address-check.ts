// What answers at an address where an rbuddy of this group should be. Asked by a new leader
// before it repoints a replica that follows a past leader's address (docs/ha.md, "Which replicas
// are repointed"), since an address that once was an instance of the group may be something else
// now (a Redis master started on the freed port): only two answers make it still the group's,
// nothing answers (the instance is dead), or an rbuddy of this group does (its `SENTINEL myid` is
// a digest of the group and its own address, so no other server gives that id there). Anything
// else — an error reply, another id, a server that closes the connection or does not answer in
// time (a TLS listener this plain connection cannot speak to) — is not ours to repoint. And asked
// by every instance of its own --announce (announce-check.ts), over TLS when its listener is one,
// where the id must also come from this very process (INFO's run_id): another process with the
// same --announce gives the same SENTINEL myid.
import { parseHostPort } from '../config/host-port.js';
import { createControlClient, type ControlTls } from '../nodes/control-client.js';
import { describeTlsFailure } from '../tls/tls-failure.js';

type ControlClient = ReturnType<typeof createControlClient>;

export type AddressVerdict =
  /** The connection could not be made (`refused`: actively, not timed out): nobody is there. */
  | { kind: 'gone'; why: string; refused?: boolean }
  /** An rbuddy of this group answers there (a deposed leader still running, say). */
  | { kind: 'instance' }
  /** Something else answers: what it said, and the id it gave to SENTINEL myid, if one. */
  | { kind: 'foreign'; why: string; id?: string }
  /** Connected, but no answer could be read: nothing is concluded (asked again later). */
  | { kind: 'unknown'; why: string };

export interface AddressCheckOptions {
  /** The `SENTINEL myid` an instance of this group answers at that address. */
  expectedId: string;
  /** The RESP listeners' password (instances of one group share it); '' when none. */
  password: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Speak TLS (to a TLS listener); plain when absent. A failed handshake is `foreign`. */
  tls?: ControlTls;
  /** INFO's run_id the answer must also give (this process's: the self-check), if any. */
  expectedRunId?: string;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Most bytes read from the address. rbuddy's answers to these questions (SENTINEL myid, ROLE,
 * INFO server) take under 2 KiB; a server that sends more is not an rbuddy and is not read on.
 */
const MAX_ANSWER_BYTES = 64 * 1024;

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
  let lastError: Error | undefined;
  // An error the server sent before any command was asked (rbuddy's TLS listener refusing a
  // client certificate answers `-ERR` at once and closes): what answered, not a silence.
  let unasked: string | undefined;
  const self = options.expectedRunId !== undefined;
  const client = createControlClient({
    // AUTH is sent below, by hand and only when asked for: a server that does not ask is not
    // given the password (and ioredis's own AUTH prints to stderr when it was not needed).
    endpoint: { address: parsed.value, user: '', password: '' },
    // No CLIENT SETNAME nor SETINFO for the self-check: a refusal sent at once would be taken
    // as their reply (and dropped), where it must be read as the answer.
    connectionName: self ? '' : 'rbuddy-takeover-check',
    clientInfo: !self,
    connectTimeoutMs: options.connectTimeoutMs,
    commandTimeoutMs: options.commandTimeoutMs,
    reconnect: () => false,
    retriesPerCommand: 0,
    readyCheck: false,
    lazyConnect: true,
    onError: (error) => {
      lastError = error;
      unasked ??= /^Command queue state error.* Last error: (.*)$/.exec(error.message)?.[1];
    },
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  // ioredis's connect() also fails when the server closes the connection before its own first
  // commands are answered: only a connection never made says that nothing is there.
  let connected = false;
  // A hostile server at the address could answer with a bulk string of hundreds of MB, and the
  // client would hold it all before the command timeout: past MAX_ANSWER_BYTES it is cut off.
  let oversized = false;
  client.once('connect', () => {
    connected = true;
    let read = 0;
    client.stream.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read <= MAX_ANSWER_BYTES || oversized) return;
      oversized = true;
      client.stream.destroy();
    });
  });
  const verdict = await conclude();
  if (!oversized) return verdict;
  return { kind: 'foreign', why: `answered more than ${MAX_ANSWER_BYTES} bytes: not an rbuddy` };

  async function conclude(): Promise<AddressVerdict> {
    try {
      try {
        await client.connect();
      } catch (error) {
        const failure = lastError ?? error;
        const tls = options.tls === undefined ? undefined : describeTlsFailure(failure, 'client');
        // A handshake that failed: something answered, in a TLS this instance does not accept.
        if (tls !== undefined && tls.kind !== 'other')
          return { kind: 'foreign', why: `TLS: ${tls.text}` };
        const why = describe(failure);
        if (connected) return { kind: 'unknown', why };
        return { kind: 'gone', why, refused: codeOf(failure) === 'ECONNREFUSED' };
      }
      let id: unknown;
      try {
        id = await myid(client, options.password);
      } catch (error) {
        if (unasked !== undefined) return { kind: 'foreign', why: unasked };
        if (!isReplyError(error)) return { kind: 'unknown', why: describe(error) };
        return { kind: 'foreign', why: `SENTINEL myid: ${error.message}${await role(client)}` };
      }
      const text = Buffer.isBuffer(id) ? id.toString('latin1') : typeof id === 'string' ? id : null;
      if (text !== options.expectedId) {
        const why = `SENTINEL myid: ${shown(id)}${await role(client)}`;
        return text === null ? { kind: 'foreign', why } : { kind: 'foreign', why, id: text };
      }
      if (options.expectedRunId === undefined) return { kind: 'instance' };
      return await sameProcess(client, options.expectedRunId, text);
    } finally {
      client.disconnect();
    }
  }
}

/** An instance with the expected id: this very process only if INFO gives its run_id too. */
async function sameProcess(
  client: ControlClient,
  runId: string,
  id: string,
): Promise<AddressVerdict> {
  let info: unknown;
  try {
    info = await client.call('INFO', 'server');
  } catch (error) {
    if (!isReplyError(error)) return { kind: 'unknown', why: describe(error) };
    return { kind: 'foreign', why: `INFO server: ${error.message}`, id };
  }
  const text = Buffer.isBuffer(info) ? info.toString('latin1') : String(info);
  const answered = /^run_id:(\S*)/m.exec(text)?.[1] ?? '(none)';
  if (answered === runId) return { kind: 'instance' };
  return { kind: 'foreign', why: `INFO run_id ${shown(answered)}, not this process's`, id };
}

function codeOf(error: unknown): unknown {
  return error instanceof Error && 'code' in error ? error.code : undefined;
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
