// What the engine learns from a replica's INFO (server, replication, persistence, keyspace):
// parseInfo, countKeys and nodeViewFromInfo on texts shaped like Redis 7's (CRLF lines, section
// headers, blank lines), for a linked replica, one loading its snapshot, one loading it
// asynchronously (repl-diskless-load swapdb), a master with keys in several dbs, and a replica of
// an IPv6 address.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostPort } from '../../src/config/types.js';
import {
  countKeys,
  guardedSettings,
  isWriteGuard,
  nodeViewFromInfo,
  parseInfo,
  transactionFailures,
  WRITE_GUARD,
} from '../../src/standby/node-ops.js';
import { isHeldStandby } from '../../src/standby/node-view.js';

const NODE = { id: '127.0.0.1:7001', host: '127.0.0.1', port: 7001 };
const PROXY: HostPort = { host: '127.0.0.1', port: 7000 };
const RUN_ID = 'e460cc73dc148e139c5a20c517f34ece65a0cbb0';

/** Redis sends INFO with CRLF line ends and a blank line between sections. */
function info(...sections: string[]): string {
  return sections.map((section) => `${section.trim()}\r\n`).join('\r\n');
}

const server = `
# Server
redis_version:7.0.15
redis_git_sha1:00000000
redis_mode:standalone
os:Linux 6.1.0 x86_64
process_id:29903
run_id:${RUN_ID}
tcp_port:7001
uptime_in_seconds:2
executable:/usr/bin/redis-server
config_file:
`;

const persistence = (loading: '0' | '1', asyncLoading: '0' | '1'): string => `
# Persistence
loading:${loading}
async_loading:${asyncLoading}
current_cow_peak:0
rdb_changes_since_last_save:0
rdb_bgsave_in_progress:0
rdb_last_bgsave_status:ok
aof_enabled:0
${loading === '1' ? 'loading_start_time:1795314579\r\nloading_total_bytes:9812345\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:1048576\r\nloading_loaded_perc:10.69\r\nloading_eta_seconds:9' : ''}
`;

const linkedReplication = `
# Replication
role:slave
master_host:127.0.0.1
master_port:7000
master_link_status:up
master_last_io_seconds_ago:0
master_sync_in_progress:0
slave_read_repl_offset:1234567
slave_repl_offset:1234567
slave_priority:100
slave_read_only:1
replica_announced:1
connected_slaves:0
master_failover_state:no-failover
master_replid:7200ab7b1957db3796768804a7318539e2ce8422
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:1234567
second_repl_offset:-1
repl_backlog_active:1
repl_backlog_size:1048576
repl_backlog_first_byte_offset:1
repl_backlog_histlen:1234567
`;

const syncingReplication = `
# Replication
role:slave
master_host:127.0.0.1
master_port:7000
master_link_status:down
master_last_io_seconds_ago:-1
master_sync_in_progress:1
slave_read_repl_offset:0
slave_repl_offset:0
master_sync_total_bytes:9812345
master_sync_read_bytes:9812345
master_sync_left_bytes:0
master_sync_perc:100.00
master_sync_last_io_seconds_ago:0
master_link_down_since_seconds:-1
slave_priority:100
slave_read_only:1
replica_announced:1
connected_slaves:0
master_failover_state:no-failover
master_replid:64fe38169ccf32608eb1a99a5a1ee0a8d9027cd7
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:0
second_repl_offset:-1
repl_backlog_active:0
repl_backlog_size:1048576
repl_backlog_first_byte_offset:0
repl_backlog_histlen:0
`;

const masterReplication = `
# Replication
role:master
connected_slaves:0
master_failover_state:no-failover
master_replid:7200ab7b1957db3796768804a7318539e2ce8422
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:0
second_repl_offset:-1
repl_backlog_active:0
repl_backlog_size:1048576
repl_backlog_first_byte_offset:0
repl_backlog_histlen:0
`;

const keyspace = (...lines: string[]): string => `
# Keyspace
${lines.join('\r\n')}
`;

describe('parseInfo', () => {
  test('reads name:value lines, skips headers and blank lines, keeps colons in values', () => {
    const fields = parseInfo(info(server, '# Replication\r\nrole:slave\r\nmaster_host:::1'));
    assert.equal(fields.get('run_id'), RUN_ID);
    assert.equal(fields.get('redis_version'), '7.0.15');
    assert.equal(fields.get('config_file'), '');
    assert.equal(fields.get('master_host'), '::1');
    assert.equal(fields.get('role'), 'slave');
    assert.ok(![...fields.keys()].some((name) => name.startsWith('#') || name === ''));
    assert.ok(![...fields.values()].some((value) => value.includes('\r')), 'no CR left');
  });

  test('takes LF-only text too', () => {
    assert.equal(
      parseInfo('# Replication\nrole:master\nconnected_slaves:0\n').get('role'),
      'master',
    );
  });
});

describe('countKeys', () => {
  test('sums keys= over every dbN line, with and without expires and subexpiry', () => {
    const fields = parseInfo(
      info(
        keyspace(
          'db0:keys=3,expires=0,avg_ttl=0',
          'db3:keys=1,expires=1,avg_ttl=998123',
          'db15:keys=1000000,expires=0,avg_ttl=0,subexpiry=0',
        ),
      ),
    );
    assert.equal(countKeys(fields), 1_000_004);
  });

  test('an empty keyspace is 0 keys; other fields named like keys do not count', () => {
    assert.equal(countKeys(parseInfo(info(server, masterReplication, keyspace()))), 0);
    const lookalikes = parseInfo(
      'db_keys:keys=9\r\ndbx:keys=9\r\nexpired_keys:12\r\nevicted_keys:3\r\ndb2:expires=1,keys=5',
    );
    assert.equal(countKeys(lookalikes), 5);
  });
});

describe('nodeViewFromInfo', () => {
  test('a replica of the proxy, linked and streaming', () => {
    const text = info(
      server,
      linkedReplication,
      persistence('0', '0'),
      keyspace('db0:keys=42,expires=0,avg_ttl=0'),
    );
    assert.deepEqual(nodeViewFromInfo(NODE, text, PROXY), {
      id: NODE.id,
      reachable: true,
      error: undefined,
      role: 'slave',
      masterAddress: '127.0.0.1:7000',
      followsProxy: true,
      linkUp: true,
      syncInProgress: false,
      loading: false,
      keys: 42,
      runId: RUN_ID,
      writesGuarded: false,
      servesStaleData: undefined,
    });
  });

  test('a replica taking a full sync: link down, sync in progress, loading the snapshot', () => {
    const text = info(server, syncingReplication, persistence('1', '0'), keyspace());
    const view = nodeViewFromInfo(NODE, text, PROXY);
    assert.equal(view.role, 'slave');
    assert.equal(view.followsProxy, true);
    assert.equal(view.linkUp, false);
    assert.equal(view.syncInProgress, true);
    assert.equal(view.loading, true);
    assert.equal(view.keys, 0);
  });

  test('async_loading (repl-diskless-load swapdb): the old dataset serves, still loading', () => {
    const text = info(
      server,
      syncingReplication.replace('master_sync_in_progress:1', 'master_sync_in_progress:0'),
      persistence('0', '1'),
      keyspace('db0:keys=500,expires=0,avg_ttl=0'),
    );
    const view = nodeViewFromInfo(NODE, text, PROXY);
    assert.equal(view.loading, true);
    assert.equal(view.syncInProgress, false);
    assert.equal(view.keys, 500);
  });

  test('a master with keys in several dbs (an idle standby that is not empty, or a promoted active)', () => {
    const text = info(
      server,
      masterReplication,
      persistence('0', '0'),
      keyspace(
        'db0:keys=3,expires=0,avg_ttl=0',
        'db3:keys=1,expires=1,avg_ttl=0',
        'db15:keys=1,expires=0,avg_ttl=0',
      ),
    );
    const view = nodeViewFromInfo(NODE, text, PROXY);
    assert.equal(view.role, 'master');
    assert.equal(view.followsProxy, false);
    assert.equal(view.linkUp, false);
    assert.equal(view.keys, 5);
    assert.equal(view.masterAddress, undefined);
    assert.equal(view.writesGuarded, false);
  });

  test('the write guard shows from the CONFIG GET settings: rbuddy’s values only', () => {
    const text = info(server, masterReplication, persistence('0', '0'), keyspace());
    assert.equal(nodeViewFromInfo(NODE, text, PROXY, { ...WRITE_GUARD }).writesGuarded, true);
    const own = { 'min-replicas-to-write': '1', 'min-replicas-max-lag': '10' };
    assert.equal(nodeViewFromInfo(NODE, text, PROXY, own).writesGuarded, false);
    assert.equal(nodeViewFromInfo(NODE, text, PROXY).writesGuarded, false, 'unknown settings');
  });

  test('a replica of another master (same host, other port; same port, other host) does not follow the proxy', () => {
    const otherPort = info(
      server,
      linkedReplication.replace('master_port:7000', 'master_port:6379'),
    );
    assert.equal(nodeViewFromInfo(NODE, otherPort, PROXY).followsProxy, false);
    const otherHost = info(
      server,
      linkedReplication.replace('master_host:127.0.0.1', 'master_host:10.0.0.2'),
    );
    assert.equal(nodeViewFromInfo(NODE, otherHost, PROXY).followsProxy, false);
    // Still a linked replica: the engine reports it as following someone else.
    assert.equal(nodeViewFromInfo(NODE, otherHost, PROXY).linkUp, true);
    assert.equal(nodeViewFromInfo(NODE, otherHost, PROXY).masterAddress, '10.0.0.2:7000');
  });

  test('IPv6: master_host ::1 matches the announce address with or without brackets, any case', () => {
    const text = info(
      server,
      linkedReplication.replace('master_host:127.0.0.1', 'master_host:::1'),
      persistence('0', '0'),
      keyspace(),
    );
    assert.equal(nodeViewFromInfo(NODE, text, { host: '::1', port: 7000 }).followsProxy, true);
    assert.equal(nodeViewFromInfo(NODE, text, { host: '[::1]', port: 7000 }).followsProxy, true);
    const upper = info(
      server,
      linkedReplication.replace('master_host:127.0.0.1', 'master_host:FE80::1'),
    );
    assert.equal(nodeViewFromInfo(NODE, upper, { host: 'fe80::1', port: 7000 }).followsProxy, true);
    assert.equal(nodeViewFromInfo(NODE, text, { host: '::2', port: 7000 }).followsProxy, false);
    assert.equal(nodeViewFromInfo(NODE, text, { host: '::1', port: 7001 }).followsProxy, false);
  });

  test('a master keeps no stale replica fields: never follows the proxy even with master_host present', () => {
    // After REPLICAOF NO ONE, INFO drops master_host; a text that still had it must not count.
    const text = info(server, `${masterReplication}\r\nmaster_host:127.0.0.1\r\nmaster_port:7000`);
    assert.equal(nodeViewFromInfo(NODE, text, PROXY).followsProxy, false);
  });

  test('an INFO without a role (a proxy or a very old server) has no role and does not follow', () => {
    const view = nodeViewFromInfo(NODE, info(server, keyspace()), PROXY);
    assert.equal(view.role, undefined);
    assert.equal(view.followsProxy, false);
    assert.equal(view.reachable, true);
  });
});

describe('the write guard', () => {
  test('both settings non-zero: a max-lag of 0 would turn Redis’s check off', () => {
    assert.ok(Number(WRITE_GUARD['min-replicas-to-write']) > 0);
    assert.ok(Number(WRITE_GUARD['min-replicas-max-lag']) > 0);
  });

  test('guardedSettings reads a CONFIG GET reply, keeping only the guarded settings', () => {
    assert.deepEqual(
      guardedSettings([
        'min-replicas-max-lag',
        '0',
        'min-replicas-to-write',
        '3',
        'maxmemory',
        '0',
      ]),
      { 'min-replicas-max-lag': '0', 'min-replicas-to-write': '3' },
    );
    assert.deepEqual(guardedSettings([]), {});
    assert.deepEqual(guardedSettings('ERR'), {});
  });

  test('isWriteGuard: exactly our values, not an operator’s own min-replicas settings', () => {
    assert.equal(isWriteGuard({ ...WRITE_GUARD }), true);
    assert.equal(isWriteGuard({ ...WRITE_GUARD, 'min-replicas-max-lag': '0' }), false);
    assert.equal(
      isWriteGuard({ 'min-replicas-to-write': '1', 'min-replicas-max-lag': '10' }),
      false,
    );
    assert.equal(isWriteGuard({}), false);
    assert.equal(isWriteGuard(undefined), false);
  });

  test('a node view says whether the guard holds; unknown settings count as not guarded', () => {
    const text = info(server, masterReplication, persistence('0', '0'), keyspace());
    assert.equal(nodeViewFromInfo(NODE, text, PROXY, { ...WRITE_GUARD }).writesGuarded, true);
    const own = { 'min-replicas-to-write': '3', 'min-replicas-max-lag': '0' };
    assert.equal(nodeViewFromInfo(NODE, text, PROXY, own).writesGuarded, false);
    assert.equal(nodeViewFromInfo(NODE, text, PROXY).writesGuarded, false);
  });
});

describe('the held idle standby', () => {
  const held = [
    '# Replication',
    'role:slave',
    'master_host:127.0.0.1',
    'master_port:7000',
    'master_link_status:down',
    'master_sync_in_progress:0',
  ].join('\r\n');
  const text = info(server, held, persistence('0', '0'), keyspace());
  const settings = (stale: string): Record<string, string> => ({
    'min-replicas-to-write': '0',
    'min-replicas-max-lag': '10',
    'replica-serve-stale-data': stale,
  });

  test('a replica of the announce address, link down, replica-serve-stale-data no', () => {
    const view = nodeViewFromInfo(NODE, text, PROXY, settings('no'));
    assert.equal(view.servesStaleData, false);
    assert.equal(isHeldStandby(view), true);
  });

  test('serving stale data, another master, a link up, or the setting unknown: not held', () => {
    assert.equal(isHeldStandby(nodeViewFromInfo(NODE, text, PROXY, settings('yes'))), false);
    assert.equal(isHeldStandby(nodeViewFromInfo(NODE, text, PROXY)), false, 'unknown');
    const elsewhere = { host: '127.0.0.1', port: 7999 };
    assert.equal(isHeldStandby(nodeViewFromInfo(NODE, text, elsewhere, settings('no'))), false);
    const up = text.replace('master_link_status:down', 'master_link_status:up');
    assert.equal(isHeldStandby(nodeViewFromInfo(NODE, up, PROXY, settings('no'))), false);
  });
});

describe('transactionFailures: every reply of a MULTI/EXEC is checked', () => {
  const transaction = [
    ['FLUSHALL', 'ASYNC'],
    ['CONFIG', 'SET', 'replica-serve-stale-data', 'no'],
    ['REPLICAOF', '127.0.0.1', '7000'],
  ];
  const queued = (n: number): [Error | null, unknown][] =>
    Array.from({ length: n }, () => [null, 'QUEUED']);

  test('all OK: no failure', () => {
    const replies: [Error | null, unknown][] = [
      [null, 'OK'],
      [null, 'OK'],
      ...queued(3),
      [null, ['OK', 'OK', 'OK']],
    ];
    assert.deepEqual(transactionFailures(replies, 1, transaction), []);
  });

  test('EXECABORT: nothing ran', () => {
    const refused = new Error('NOREPLICAS Not enough good replicas to write.');
    const replies: [Error | null, unknown][] = [
      [null, 'OK'],
      [refused, undefined],
      ...queued(2),
      [new Error('EXECABORT Transaction discarded because of previous errors.'), undefined],
    ];
    const failures = transactionFailures([[null, 'OK'], ...replies.slice(1)], 1, transaction);
    assert.ok(failures.length > 0);
    assert.ok(failures.every((failure) => !failure.ran));
    assert.match(failures.map((failure) => failure.why).join('; '), /NOREPLICAS.*EXECABORT/);
  });

  test('an error inside EXEC (Redis does not roll back): reported as having run, by command', () => {
    const replies: [Error | null, unknown][] = [
      [null, 'OK'],
      ...queued(3),
      [null, ['OK', new Error('ERR CONFIG SET failed'), 'OK']],
    ];
    const failures = transactionFailures([[null, 'OK'], ...replies], 1, transaction);
    assert.deepEqual(failures, [{ why: 'CONFIG SET: ERR CONFIG SET failed', ran: true }]);
  });

  test('no reply at all, or a malformed EXEC reply', () => {
    assert.deepEqual(transactionFailures(null, 0, transaction), [
      { why: 'no reply to the transaction', ran: false },
    ]);
    const short: [Error | null, unknown][] = [[null, 'OK'], ...queued(3), [null, ['OK']]];
    assert.equal(transactionFailures(short, 0, transaction)[0]?.ran, true);
  });
});
