// What rbuddy's RESP port answers to the commands clients and operators send a sentinel, compared
// with a real redis-sentinel (Debian's package) that monitors the same master: each probe goes to
// both, in RESP2 and in RESP3, and the replies must have the same shape (wire types, map fields,
// INFO sections and fields, errors word for word). Values that differ between any two sentinels
// (ids, addresses, timers) are not compared. Without redis-sentinel this test fails and says
// what to install.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startSentinel, type RedisSentinel } from '../../harness/redis-sentinel.js';
import { stopAllRedis } from '../../harness/redis-server.js';
import { waitFor } from '../../harness/wait-for.js';
import { stopAllRbuddy } from '../helpers/rbuddy.js';
import { shapeDifferences, type ShapeOptions } from '../helpers/reply-shapes.js';
import { Resp3Client, type Typed } from '../helpers/resp3-client.js';
import { startTopology } from '../helpers/topology.js';

const GROUP = 'probe-group';
let sentinel: RedisSentinel | undefined;
const clients: Resp3Client[] = [];

after(async () => {
  for (const client of clients) client.close();
  await sentinel?.stop();
  await stopAllRbuddy();
  await stopAllRedis();
});

/** `resp3Only`: RESP2 folds maps into lists, so a subset of fields is only comparable in RESP3. */
type Probe = [args: string[], options?: ShapeOptions & { resp3Only?: boolean }];

function probes(masterPort: number): Probe[] {
  const info: ShapeOptions = { infoText: true };
  return [
    [['PING']],
    [['ROLE']],
    [['ROLE', 'x']],
    [['SELECT', '0']],
    [['INFO'], info],
    [['INFO', 'sentinel'], info],
    [['INFO', 'server', 'clients'], info],
    [['INFO', 'nosuch'], info],
    [['COMMAND', 'COUNT']],
    [['COMMAND', 'COUNT', 'x']],
    [['COMMAND', 'INFO', 'ping', 'nope']],
    [['COMMAND', 'DOCS', 'ping'], { subsetMaps: true, resp3Only: true }],
    [['COMMAND', 'DOCS', 'nope']],
    [['COMMAND'], { byName: true }],
    [['COMMAND', 'nosuch']],
    [['CLIENT', 'ID']],
    [['CLIENT', 'ID', 'x']],
    [['CLIENT', 'INFO'], { clientLine: true }],
    [['CLIENT', 'SETNAME', 'probe']],
    [['CLIENT', 'GETNAME']],
    [['CLIENT', 'SETNAME', 'a b']],
    [['CLIENT', 'nosuch']],
    [['SENTINEL', 'myid']],
    [['SENTINEL', 'myid', 'x']],
    [['SENTINEL', 'masters']],
    [['SENTINEL', 'master', GROUP]],
    [['SENTINEL', 'master', 'nope']],
    [['SENTINEL', 'replicas', GROUP]],
    [['SENTINEL', 'slaves', GROUP]],
    [['SENTINEL', 'sentinels', GROUP]],
    [['SENTINEL', 'get-master-addr-by-name', GROUP]],
    [['SENTINEL', 'get-master-addr-by-name', 'nope']],
    [['SENTINEL', 'ckquorum', GROUP]],
    [['SENTINEL', 'ckquorum', 'nope']],
    [['SENTINEL', 'ckquorum']],
    [['SENTINEL', 'is-master-down-by-addr', '127.0.0.1', String(masterPort), '0', '*']],
    [['SENTINEL', 'is-master-down-by-addr', '127.0.0.1', 'x', '0', '*']],
    [['SENTINEL', 'is-master-down-by-addr', '127.0.0.1', String(masterPort), '0']],
    // Sentinel's master is a master, rbuddy's (the active) a replica: their # Replication differs.
    [['SENTINEL', 'info-cache', GROUP], { ...info, infoRoleSections: true }],
    [['SENTINEL', 'info-cache', 'nope']],
    [['SENTINEL', 'info-cache']],
    [['SENTINEL', 'config', 'get', '*']],
    [['SENTINEL', 'config', 'get', 'ANNOUNCE*']],
    [['SENTINEL', 'config', 'get']],
    [['SENTINEL', 'nosuch']],
    [['HELLO', '4']],
    [['HELLO', 'x']],
  ];
}

test('every probe gets the shape a real redis-sentinel answers, in RESP2 and RESP3', async () => {
  const t = await startTopology({ rbuddyArgs: ['--group', GROUP] });
  await t.waitForHealthy();
  sentinel = await startSentinel({
    group: GROUP,
    master: { host: '127.0.0.1', port: t.master.port },
  });
  const connect = async (port: number): Promise<Resp3Client> => {
    const client = await Resp3Client.connect('127.0.0.1', port);
    clients.push(client);
    return client;
  };
  const real = await connect(sentinel.port);
  // Sentinel learns the master's replica and its INFO from the master within a few periods.
  await waitFor(
    async () => {
      const replicas = await real.command('SENTINEL', 'replicas', GROUP);
      const cache = await real.command('SENTINEL', 'info-cache', GROUP);
      return (
        replicas.type === 'array' &&
        replicas.items.length > 0 &&
        JSON.stringify(cache).includes('# Server')
      );
    },
    { what: 'redis-sentinel to discover the replica and cache INFO', timeoutMs: 60_000 },
  );
  const differences: string[] = [];
  for (const protocol of ['2', '3']) {
    const ours = await connect(t.rbuddy.resp.port);
    const theirs = await connect(sentinel.port);
    const hello: [Typed, Typed] = [
      await ours.command('HELLO', protocol),
      await theirs.command('HELLO', protocol),
    ];
    differences.push(...shapeDifferences(hello[0], hello[1], {}, `RESP${protocol} HELLO`));
    for (const [args, options] of probes(t.master.port)) {
      if (options?.resp3Only === true && protocol === '2') continue;
      const [a, b] = [await ours.command(...args), await theirs.command(...args)];
      differences.push(...shapeDifferences(a, b, options, `RESP${protocol} ${args.join(' ')}`));
    }
    // Sentinel's default user is nopass: named, any password is accepted; an unknown user is not.
    for (const args of [
      ['AUTH', 'x'],
      ['AUTH', 'default', 'x'],
      ['HELLO', protocol, 'AUTH', 'default', 'x'],
      ['AUTH', 'bob', 'x'],
      ['HELLO', protocol, 'AUTH', 'bob', 'x'],
    ]) {
      const [a, b] = [await ours.command(...args), await theirs.command(...args)];
      differences.push(...shapeDifferences(a, b, {}, `RESP${protocol} ${args.join(' ')}`));
    }
    // Subscribed mode: RESP2 restricts commands and answers PING as a list; RESP3 does not.
    for (const args of [['PSUBSCRIBE', '*'], ['PING'], ['SENTINEL', 'myid'], ['PUNSUBSCRIBE']]) {
      const [a, b] = [await ours.command(...args), await theirs.command(...args)];
      differences.push(
        ...shapeDifferences(a, b, {}, `RESP${protocol} subscribed ${args.join(' ')}`),
      );
    }
  }
  assert.deepEqual(differences, []);
});
