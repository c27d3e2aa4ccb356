// What answers at a past leader's address (src/ha/address-check.ts), against small loopback
// servers that answer as each kind would: an rbuddy of this group (its SENTINEL myid), a plain
// Redis master, one that closes the connection at once (a TLS listener spoken to in plain), one
// that never answers, and a port where nothing listens.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { freePort } from '../../harness/processes.js';
import { waitFor } from '../../harness/wait-for.js';
import { checkAddress, type AddressCheckOptions } from '../../src/ha/address-check.js';
import { encode, RespError, type RespValue } from '../../src/resp/encode.js';
import { CommandFramer } from '../../src/resp/command-framer.js';

const ID = 'a'.repeat(40);
const servers: Server[] = [];
const sockets = new Set<Socket>();

after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server answering each command with `answer(args)`; undefined: no answer at all. */
async function serve(
  answer: (args: string[]) => RespValue | undefined,
  onConnect?: (socket: Socket) => void,
): Promise<{ address: string; commands: string[][] }> {
  const commands: string[][] = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnect?.(socket);
    const framer = new CommandFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        const args = frame.args.map((arg) => arg.toString());
        commands.push(args);
        const reply = answer(args);
        if (reply !== undefined) socket.write(encode(reply));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { address: `127.0.0.1:${port}`, commands };
}

const options = (password = ''): AddressCheckOptions => ({
  expectedId: ID,
  password,
  connectTimeoutMs: 500,
  commandTimeoutMs: 300,
});

/** Answers as rbuddy does: with a password, NOAUTH to everything before AUTH. */
const sentinelLike = (id: string, password = '') => {
  let authenticated = password === '';
  return (args: string[]): RespValue => {
    const name = args[0]?.toLowerCase();
    if (name === 'auth') {
      authenticated = args[1] === password;
      return authenticated ? 'OK' : new RespError('WRONGPASS');
    }
    if (!authenticated) return new RespError('NOAUTH Authentication required.');
    if (name === 'client') return 'OK';
    if (name === 'sentinel' && args[1]?.toLowerCase() === 'myid') return Buffer.from(id);
    return new RespError(`ERR unknown command '${args[0] ?? ''}'`);
  };
};

describe('what answers at a past leader address', () => {
  test('nothing listens there: gone, with the reason', async () => {
    const port = await freePort();
    const verdict = await checkAddress(`127.0.0.1:${port}`, options());
    assert.equal(verdict.kind, 'gone');
    assert.match(verdict.kind === 'gone' ? verdict.why : '', /ECONNREFUSED/);
  });

  test('an rbuddy of this group (its id at that address): an instance, authenticated', async () => {
    const server = await serve(sentinelLike(ID, 's3cret'));
    assert.deepEqual(await checkAddress(server.address, options('s3cret')), { kind: 'instance' });
    assert.ok(server.commands.some((args) => args[0] === 'AUTH' && args[1] === 's3cret'));
  });

  test('a server that does not ask for a password is not given it', async () => {
    const server = await serve(sentinelLike(ID));
    assert.deepEqual(await checkAddress(server.address, options('s3cret')), { kind: 'instance' });
    assert.ok(!server.commands.some((args) => args[0]?.toUpperCase() === 'AUTH'));
  });

  test('an rbuddy of this group whose password this instance does not have: foreign', async () => {
    const server = await serve(sentinelLike(ID, 's3cret'));
    const verdict = await checkAddress(server.address, options('other'));
    assert.equal(verdict.kind, 'foreign');
    assert.match(verdict.kind === 'foreign' ? verdict.why : '', /NOAUTH/);
  });

  test('an rbuddy (or a Sentinel) with another id: foreign', async () => {
    const server = await serve(sentinelLike('b'.repeat(40)));
    const verdict = await checkAddress(server.address, options());
    assert.equal(verdict.kind, 'foreign');
    assert.match(verdict.kind === 'foreign' ? verdict.why : '', /SENTINEL myid: "b{40}"/);
  });

  test('a plain Redis master: foreign, its ROLE said', async () => {
    const server = await serve((args) => {
      const name = args[0]?.toLowerCase();
      if (name === 'client') return 'OK';
      if (name === 'role') return [Buffer.from('master'), 120, []];
      return new RespError(`ERR unknown command '${args[0] ?? ''}', with args beginning with: `);
    });
    const verdict = await checkAddress(server.address, options());
    assert.equal(verdict.kind, 'foreign');
    assert.match(
      verdict.kind === 'foreign' ? verdict.why : '',
      /^SENTINEL myid: ERR unknown command 'SENTINEL'.*, ROLE "master"$/,
    );
  });

  test('connected, then closed at once (a TLS listener spoken to in plain): nothing concluded', async () => {
    const server = await serve(
      () => undefined,
      (socket) => socket.on('data', () => socket.destroy()),
    );
    const verdict = await checkAddress(server.address, options());
    assert.equal(verdict.kind, 'unknown');
  });

  test('an answer of hundreds of MB is cut off early: foreign, and never held', async () => {
    let written = 0;
    let closed = false;
    const server = await serve(
      () => undefined,
      (socket) => {
        socket.on('close', () => (closed = true));
        socket.once('data', () => {
          // A bulk string of 512 MB, sent for as long as the client reads it.
          socket.write('$536870912\r\n');
          const chunk = Buffer.alloc(64 * 1024, 0x61);
          const more = (): void => {
            while (!socket.destroyed && written < 512 * 1024 * 1024) {
              written += chunk.length;
              if (!socket.write(chunk)) return void socket.once('drain', more);
            }
          };
          more();
        });
      },
    );
    const verdict = await checkAddress(server.address, { ...options(), commandTimeoutMs: 30_000 });
    assert.deepEqual(verdict, {
      kind: 'foreign',
      why: 'answered more than 65536 bytes: not an rbuddy',
    });
    await waitFor(() => closed, { what: 'the connection closed', timeoutMs: 10_000 });
    // What the kernel's buffers held before the cut, never the 512 MB.
    assert.ok(written < 64 * 1024 * 1024, `${written} bytes written before the cut`);
  });

  test('connected, never answered: nothing concluded, within the command timeout', async () => {
    const server = await serve(() => undefined);
    const verdict = await checkAddress(server.address, options());
    assert.equal(verdict.kind, 'unknown');
  });

  test('garbage instead of an address: foreign, nothing dialled', async () => {
    const verdict = await checkAddress('no-port', options());
    assert.equal(verdict.kind, 'foreign');
  });
});

describe('the self-check of an --announce: this very process', () => {
  const RUN = 'c'.repeat(40);
  const self = (): AddressCheckOptions => ({ ...options(), expectedRunId: RUN });
  const withRunId = (runId: string) => {
    const answer = sentinelLike(ID);
    return (args: string[]): RespValue =>
      args[0]?.toLowerCase() === 'info'
        ? Buffer.from(`# Server\r\nrun_id:${runId}\r\n`)
        : answer(args);
  };

  test('the id and the run id of this process: an instance, with no CLIENT command sent first', async () => {
    const server = await serve(withRunId(RUN));
    assert.deepEqual(await checkAddress(server.address, self()), { kind: 'instance' });
    assert.deepEqual(server.commands[0]?.slice(0, 2), ['SENTINEL', 'myid']);
  });

  test('the id of this --announce from another process: foreign, carrying the id', async () => {
    const server = await serve(withRunId('d'.repeat(40)));
    const verdict = await checkAddress(server.address, self());
    assert.equal(verdict.kind, 'foreign');
    assert.ok(verdict.kind === 'foreign' && verdict.id === ID, JSON.stringify(verdict));
    assert.match(
      verdict.kind === 'foreign' ? verdict.why : '',
      /INFO run_id "d{40}", not this process's/,
    );
  });

  test('another id: foreign, carrying it', async () => {
    const server = await serve(withRunId(RUN));
    const verdict = await checkAddress(server.address, { ...self(), expectedId: 'e'.repeat(40) });
    assert.ok(verdict.kind === 'foreign' && verdict.id === ID, JSON.stringify(verdict));
  });

  test('an error sent before anything was asked (a refused client certificate): foreign, with it', async () => {
    const server = await serve(
      () => undefined,
      (socket) => socket.end('-ERR rbuddy: client certificate refused: expired\r\n'),
    );
    const verdict = await checkAddress(server.address, self());
    assert.equal(verdict.kind, 'foreign', JSON.stringify(verdict));
    assert.match(
      verdict.kind === 'foreign' ? verdict.why : '',
      /client certificate refused: expired/,
    );
  });

  test('a refused connection is told from one that timed out', async () => {
    const port = await freePort();
    const verdict = await checkAddress(`127.0.0.1:${port}`, self());
    assert.ok(verdict.kind === 'gone' && verdict.refused === true, JSON.stringify(verdict));
  });
});
