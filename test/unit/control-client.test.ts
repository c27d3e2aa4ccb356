// The control-client factory: a RetryPolicy becomes ioredis's retryStrategy (attempts counted
// from 0, false → stop), and a client whose server is not there reports the failure to onError
// instead of raising an unhandled 'error' event.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import pino from 'pino';
import { createControlClient, retryStrategy } from '../../src/nodes/control-client.js';
import { NodeClients } from '../../src/nodes/node-client.js';
import { waitFor } from '../../harness/wait-for.js';

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

describe('retryStrategy', () => {
  test('ioredis counts reconnects from 1, the policy attempts from 0', () => {
    const attempts: number[] = [];
    const strategy = retryStrategy((attempt) => {
      attempts.push(attempt);
      return 10 * attempt;
    });
    assert.deepEqual([strategy(1), strategy(2), strategy(3)], [0, 10, 20]);
    assert.deepEqual(attempts, [0, 1, 2]);
  });

  test('a policy that gives up stops the reconnects (null)', () => {
    assert.equal(retryStrategy(() => false)(1), null);
  });
});

describe('createControlClient', () => {
  test('a refused connection goes to onError, and the command fails with the timeout', async () => {
    const port = await closedPort();
    const errors: Error[] = [];
    const client = createControlClient({
      endpoint: { address: { host: '127.0.0.1', port }, user: '', password: '' },
      connectionName: 'rbuddy-test',
      connectTimeoutMs: 500,
      commandTimeoutMs: 300,
      reconnect: () => 50,
      onError: (error) => errors.push(error),
    });
    try {
      await assert.rejects(client.ping());
      await waitFor(() => errors.length > 0, { what: 'the connect error to be reported' });
    } finally {
      client.disconnect();
    }
  });

  test('lazyConnect: nothing is opened before the first command or connect()', () => {
    const client = createControlClient({
      endpoint: { url: 'redis://127.0.0.1:1' },
      connectionName: 'rbuddy-test',
      connectTimeoutMs: 500,
      commandTimeoutMs: 300,
      lazyConnect: true,
    });
    assert.equal(client.status, 'wait');
    client.disconnect();
  });
});

describe('NodeClients', () => {
  test("a replica's control connection reconnects at most 1 s apart, whatever the outage", async () => {
    // Chaos, the CI seed: after 8 s down, the active came back empty and was seen only at the
    // next reconnect (the factory's backoff reaches 10 s), serving nils 9.4 s before it was held.
    const clients = new NodeClients({
      user: '',
      password: '',
      connectTimeoutMs: 200,
      commandTimeoutMs: 200,
      logger: pino({ level: 'silent' }),
    });
    try {
      const client = clients.client({ host: '127.0.0.1', port: 1, id: '127.0.0.1:1' });
      const strategy = client.options.retryStrategy;
      assert.ok(typeof strategy === 'function', 'a retry strategy');
      const delays = Array.from({ length: 60 }, (_, i) => strategy(i + 1));
      assert.ok(
        delays.every((delay) => typeof delay === 'number' && delay > 0 && delay <= 1_000),
        `delays ${delays.join(', ')}`,
      );
      assert.ok(
        delays.slice(10).some((delay) => typeof delay === 'number' && delay > 500),
        'it still backs off',
      );
    } finally {
      await clients.close();
    }
  });
});
