import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  matchByAddress,
  matchByObservation,
  normalizeIp,
  parseClientListLaddrs,
  parseReplicationInfo,
  ReplicaMatcher,
  type ConnectionIdentity,
  type NodeLinkObservation,
} from '../../src/proxy/replica-matcher.js';
import type { ReplicaNode } from '../../src/proxy/session-types.js';

const a: ReplicaNode = { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 };
const b: ReplicaNode = { id: 'replica-b:6379', host: 'replica-b', port: 6379 };
const c: ReplicaNode = { id: '127.0.0.1:7001', host: '127.0.0.1', port: 7001 };
const candidates = [
  { node: a, addresses: ['10.0.0.5'] },
  { node: b, addresses: ['10.0.0.6'] },
  { node: c, addresses: ['127.0.0.1'] },
];

function identity(overrides: Partial<ConnectionIdentity> = {}): ConnectionIdentity {
  return {
    peerAddress: '10.0.0.5',
    peerPort: 50000,
    listeningPort: 6379,
    announcedIp: undefined,
    request: { kind: 'psync', replid: '?', offset: -1 },
    ...overrides,
  };
}

describe('matchByAddress', () => {
  test('listening-port and peer IP select one node', () => {
    assert.deepEqual(matchByAddress(identity(), candidates), { kind: 'matched', node: a });
  });

  test('an IPv4-mapped IPv6 peer address matches its IPv4 node', () => {
    assert.deepEqual(matchByAddress(identity({ peerAddress: '::ffff:10.0.0.6' }), candidates), {
      kind: 'matched',
      node: b,
    });
  });

  test('the announced IP wins over the peer IP (replica-announce-ip)', () => {
    const result = matchByAddress(
      identity({ peerAddress: '172.17.0.1', announcedIp: '10.0.0.6' }),
      candidates,
    );
    assert.deepEqual(result, { kind: 'matched', node: b });
  });

  test('an announced host name equal to the configured host matches', () => {
    const result = matchByAddress(identity({ announcedIp: 'replica-b' }), [
      { node: b, addresses: [] },
    ]);
    assert.deepEqual(result, { kind: 'matched', node: b });
  });

  test('a port match behind NAT (unknown IP) is ambiguous, not a match', () => {
    const result = matchByAddress(identity({ peerAddress: '172.17.0.1' }), candidates);
    assert.deepEqual(result, { kind: 'ambiguous', candidates: [a, b] });
  });

  test('an unknown listening port is nobody', () => {
    const result = matchByAddress(identity({ listeningPort: 9999 }), candidates);
    assert.equal(result.kind, 'none');
  });

  test('no REPLCONF listening-port is nobody', () => {
    const result = matchByAddress(identity({ listeningPort: undefined }), candidates);
    assert.equal(result.kind, 'none');
  });
});

function observation(
  node: ReplicaNode,
  overrides: Partial<NodeLinkObservation> = {},
): NodeLinkObservation {
  return {
    node,
    localAddresses: [],
    role: 'slave',
    masterHost: '10.0.0.9',
    masterPort: 6382,
    linkUp: false,
    replid: 'r'.repeat(40),
    offset: 1000,
    ...overrides,
  };
}

describe('matchByObservation', () => {
  const announce = { host: '10.0.0.9', port: 6382 };

  test('the node whose master link laddr is the peer address', () => {
    const id = identity({ peerAddress: '172.17.0.1', peerPort: 41000 });
    const result = matchByObservation(id, announce, [
      observation(a, { localAddresses: ['10.0.0.5:1234'] }),
      observation(b, { localAddresses: ['172.17.0.1:41000'] }),
    ]);
    assert.equal(result, b);
  });

  test('during a handshake: the one replica of the proxy whose replid/offset the PSYNC names', () => {
    const id = identity({ request: { kind: 'psync', replid: 'r'.repeat(40), offset: 1001 } });
    const result = matchByObservation(id, announce, [
      observation(a, { offset: 5000 }),
      observation(b, { offset: 1000 }),
    ]);
    assert.equal(result, b);
  });

  test('two fresh replicas of the proxy are still ambiguous: no guess', () => {
    const result = matchByObservation(identity(), announce, [observation(a), observation(b)]);
    assert.equal(result, undefined);
  });

  test('a node following another master, or with its link up, is not this connection', () => {
    const result = matchByObservation(identity(), announce, [
      observation(a, { masterPort: 6379 }),
      observation(b, { linkUp: true }),
    ]);
    assert.equal(result, undefined);
  });
});

describe('parsers', () => {
  test('CLIENT LIST laddr fields', () => {
    const list =
      'id=3 addr=10.0.0.9:6382 laddr=10.0.0.5:53312 fd=8 name= age=1 flags=M\n' +
      'id=4 addr=[::1]:6382 laddr=[::1]:40000 fd=9 flags=M\n';
    assert.deepEqual(parseClientListLaddrs(list), ['10.0.0.5:53312', '[::1]:40000']);
  });

  test('INFO replication fields', () => {
    const text =
      '# Replication\r\nrole:slave\r\nmaster_host:10.0.0.9\r\nmaster_port:6382\r\n' +
      'master_link_status:down\r\nmaster_replid:abc\r\nmaster_repl_offset:42\r\n';
    const parsed = parseReplicationInfo(a, text, []);
    assert.equal(parsed.role, 'slave');
    assert.equal(parsed.masterPort, 6382);
    assert.equal(parsed.linkUp, false);
    assert.equal(parsed.offset, 42);
    assert.equal(parsed.replid, 'abc');
  });

  test('normalizeIp folds IPv4-mapped addresses and case', () => {
    assert.equal(normalizeIp('::FFFF:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('FE80::1'), 'fe80::1');
  });
});

describe('ReplicaMatcher', () => {
  test('resolves host names and falls back to asking the nodes', async () => {
    const asked: string[] = [];
    const matcher = new ReplicaMatcher(
      () => [a, b],
      () => ({ host: '10.0.0.9', port: 6382 }),
      {
        replicationInfo: (node) => {
          asked.push(node.id);
          return Promise.resolve(
            `role:slave\r\nmaster_host:10.0.0.9\r\nmaster_port:6382\r\nmaster_link_status:down\r\nmaster_replid:${'r'.repeat(40)}\r\nmaster_repl_offset:${node === b ? 7 : 9}\r\n`,
          );
        },
        masterClientList: () => Promise.resolve(''),
      },
      (host) => Promise.resolve(host === 'replica-b' ? ['10.0.0.6'] : [host]),
    );
    const direct = await matcher.match(identity({ peerAddress: '10.0.0.6' }));
    assert.equal(direct.node, b);
    assert.deepEqual(asked, [], 'an address match asks no node');

    const viaNodes = await matcher.match(
      identity({
        peerAddress: '172.17.0.1',
        request: { kind: 'psync', replid: 'r'.repeat(40), offset: 8 },
      }),
    );
    assert.equal(viaNodes.node, b);
    assert.deepEqual(asked.sort(), [a.id, b.id]);

    const unreachable = new ReplicaMatcher(
      () => [a, b],
      () => ({ host: '10.0.0.9', port: 6382 }),
      {
        replicationInfo: () => Promise.reject(new Error('down')),
        masterClientList: () => Promise.reject(new Error('down')),
      },
      (host) => Promise.resolve([host]),
    );
    const refused = await unreachable.match(identity({ peerAddress: '172.17.0.1' }));
    assert.equal(refused.node, undefined);
    assert.ok(refused.node === undefined && /ambiguous/.test(refused.why));
  });
});
