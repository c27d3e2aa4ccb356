// checkDistinctReplicas(): `--active` and `--standby` naming one node is a configuration error
// (docs/design.md, "Identity of a replica"), caught before anything starts: the same text, the
// same address spelt two ways (host-name case, IPv4-mapped IPv6), or two names that resolve to
// one address (localhost and 127.0.0.1). Different ports, or names that resolve apart, are two
// nodes; a name that does not resolve is not refused here (a node down at start is retried).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkDistinctReplicas, type Resolve } from '../../src/config/nodes.js';
import type { HostPort } from '../../src/config/types.js';

const hp = (host: string, port: number): HostPort => ({ host, port });

/** A resolver over a fixed table; unknown names resolve to nothing. */
const table =
  (entries: Record<string, string[]>): Resolve =>
  (host) =>
    Promise.resolve(entries[host] ?? []);

async function refused(active: HostPort, standby: HostPort, resolve?: Resolve): Promise<string> {
  const error = await checkDistinctReplicas({ active, standby }, resolve).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof Error, 'refused');
  assert.equal('code' in error ? error.code : undefined, 'RBUDDY_ERR_CONFIG');
  assert.ok(!error.message.includes('\n'), 'one line');
  assert.match(error.message, /"active" and "standby"/);
  return error.message;
}

describe('checkDistinctReplicas', () => {
  test('the same address twice', async () => {
    const message = await refused(hp('10.0.0.5', 6379), hp('10.0.0.5', 6379), table({}));
    assert.match(message, /both 10\.0\.0\.5:6379/);
    await refused(hp('Redis-A', 6379), hp('redis-a', 6379), table({}));
    await refused(hp('::ffff:127.0.0.1', 6379), hp('127.0.0.1', 6379), table({}));
  });

  test('two names that resolve to one address', async () => {
    const resolve = table({ 'replica-a': ['10.0.0.5'], 'replica-a.example': ['10.0.0.5'] });
    const message = await refused(hp('replica-a', 6379), hp('replica-a.example', 6379), resolve);
    assert.match(message, /replica-a:6379 and replica-a\.example:6379, both 10\.0\.0\.5:6379/);
  });

  test('localhost and 127.0.0.1 with the real resolver', async () => {
    await refused(hp('localhost', 6380), hp('127.0.0.1', 6380));
  });

  test('two nodes: another port, another address, or a name that does not resolve', async () => {
    const resolve = table({ a: ['10.0.0.5'], b: ['10.0.0.6'] });
    await checkDistinctReplicas({ active: hp('a', 6379), standby: hp('a', 6380) }, resolve);
    await checkDistinctReplicas({ active: hp('a', 6379), standby: hp('b', 6379) }, resolve);
    await checkDistinctReplicas({ active: hp('a', 6379), standby: hp('gone', 6379) }, resolve);
    await checkDistinctReplicas({
      active: hp('127.0.0.1', 6379),
      standby: hp('127.0.0.2', 6379),
    });
  });
});
