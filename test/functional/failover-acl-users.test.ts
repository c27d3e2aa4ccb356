// The least-privilege Redis ACL users of docs/operations.md, read from that page: the master's
// and the replicas' rules as `user` directives, and rbuddy configured with exactly those users.
// A whole unplanned failover runs (master killed, active promoted, master back, standby
// resynced, switch, old active flushed, events published on the replicas) with no failed action
// and an empty ACL LOG on every node: a permission the docs forget fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitForInSync } from '../../harness/replication.js';
import { explainTopology, failoverTimings, startTopology } from '../helpers/topology.js';
import { waitFor } from '../../harness/wait-for.js';
import { assertHeldStandby } from '../../harness/held-standby.js';

after(async () => {
  await stopAllRbuddy();
  await stopAllRedis();
});

const OPERATIONS = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));

/** The rule after `ACL SETUSER <user> ` in the docs' code block for that user. */
function documentedRule(user: string): string {
  const doc = readFileSync(OPERATIONS, 'utf8');
  const match = new RegExp(`^ACL SETUSER (${user} .+)$`, 'm').exec(doc);
  assert.ok(match?.[1] !== undefined, `no ACL SETUSER ${user} line in docs/operations.md`);
  return match[1];
}

async function aclLog(client: Redis): Promise<unknown[]> {
  return (await client.call('ACL', 'LOG')) as unknown[];
}

test('a whole failover with the documented ACL users: no failed action, empty ACL LOG', async () => {
  const masterRule = documentedRule('rbuddy-repl');
  const replicaRule = documentedRule('rbuddy-admin');
  const t = await startTopology({
    // As config directives, so the master's user survives its restart.
    masterArgs: { 'repl-diskless-sync': 'no', user: masterRule },
    replicaArgs: { user: replicaRule, masterauth: 'listen-secret' },
    rbuddyArgs: [
      ...failoverTimings(),
      '--master-user',
      'rbuddy-repl',
      '--master-password',
      'master-secret',
      '--replica-user',
      'rbuddy-admin',
      '--replica-password',
      'replica-secret',
      '--listen-password',
      'listen-secret',
    ],
    populate: { megabytes: 2 },
  });
  const nodes = [t.master, t.active, t.standby];
  const explain = (): string => explainTopology(t.rbuddy, nodes);
  await t.waitForHealthy();
  const epochBefore = t.rbuddy.status().epoch ?? -1;

  await t.master.client().save();
  await t.master.kill9();
  await waitFor(() => t.rbuddy.status().failover?.step === 'syncing', {
    what: 'the active promoted and the standby attached',
    explain,
  });
  await t.master.restart();
  const status = await waitFor(
    () => {
      const s = t.rbuddy.status();
      return s.state === 'healthy' && s.epoch === epochBefore + 1 ? s : undefined;
    },
    { what: 'the failover to complete', timeoutMs: 120_000, explain },
  );

  assert.equal(status.active, t.standby.address);
  assert.equal(status.lastFailover?.result, 'completed');
  assert.equal(status.lastError, null, 'no action failed');
  // The old active was flushed and is the held idle standby (-MASTERDOWN, -READONLY).
  await assertHeldStandby(t.active.client(), 'on-the-new-standby');
  await waitForInSync(t.master.client(), t.standby.client());

  // --publish replicas (the default) delivered on both replicas without NOPERM.
  const published = await waitFor(
    () => {
      const targets = t.rbuddy.status().notifications.publish;
      return targets.length === 2 && targets.every((target) => target.pending === 0)
        ? targets
        : undefined;
    },
    {
      what: 'every event published on both replicas',
      explain: () => `publish targets: ${JSON.stringify(t.rbuddy.status().notifications.publish)}`,
    },
  );
  for (const target of published) {
    assert.equal(target.lastError, null, `${target.target}: ${target.lastError ?? ''}`);
    assert.notEqual(target.lastSuccess, null);
  }

  for (const node of nodes) {
    assert.deepEqual(await aclLog(node.client()), [], `ACL LOG of ${node.name}`);
  }
  const denied = t.rbuddy
    .logs()
    .map((line) => JSON.stringify(line))
    .filter((line) => /NOPERM|WRONGPASS|NOAUTH/.test(line));
  assert.deepEqual(denied, [], 'no permission error in rbuddy logs');
});
