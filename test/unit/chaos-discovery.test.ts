// The chaos observer's discovery comparison (chaos/discovery.ts): `SENTINEL replicas` must list
// exactly the active /v1/status names, flagged `slave` (reviewer R11d, D4: a RESP port naming
// the standby there failed the sentinel reader's reads with no violation pointing at discovery).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { masterAddrNamed, replicasDisagree } from '../../chaos/discovery.js';

const entry = (ip: string, port: number, flags = 'slave'): string[] => [
  'name',
  `${ip}:${port}`,
  'ip',
  ip,
  'port',
  String(port),
  'flags',
  flags,
  'master-link-status',
  'ok',
];

test('SENTINEL replicas agrees when it lists exactly the active, flagged slave', () => {
  assert.equal(replicasDisagree([entry('127.0.0.1', 7001)], '127.0.0.1:7001'), undefined);
  assert.equal(replicasDisagree([], null), undefined);
});

test('SENTINEL replicas naming the standby, both nodes, none, or a down flag disagrees', () => {
  const active = '127.0.0.1:7001';
  assert.match(replicasDisagree([entry('127.0.0.1', 7002)], active) ?? '', /7002 where the/);
  assert.match(
    replicasDisagree([entry('127.0.0.1', 7001), entry('127.0.0.1', 7002)], active) ?? '',
    /listed 127.0.0.1:7001, 127.0.0.1:7002/,
  );
  assert.match(replicasDisagree([], active) ?? '', /listed none/);
  assert.match(replicasDisagree([entry('127.0.0.1', 7001, 'slave,s_down')], active) ?? '', /flags/);
  assert.match(replicasDisagree([entry('127.0.0.1', 7001)], null) ?? '', /no active/);
  assert.match(replicasDisagree('ERR no such master', active) ?? '', /not a list/);
});

test('get-master-addr-by-name: host:port, or null for a null array', () => {
  assert.equal(masterAddrNamed(['127.0.0.1', '7001']), '127.0.0.1:7001');
  assert.equal(masterAddrNamed(null), null);
});
