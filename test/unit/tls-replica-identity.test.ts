// Identity by certificate in the replica matcher: a verified client certificate narrows a claim
// to the nodes whose identity patterns it matches, before any node is asked.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  certificateCandidates,
  describeNames,
  ReplicaMatcher,
  type ConnectionIdentity,
} from '../../src/proxy/replica-matcher.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';
import {
  defaultIdentityPatterns,
  parseIdentityPatterns,
  type CertificateNames,
  type IdentityPattern,
} from '../../src/tls/peer-identity.js';

const active: ReplicaNode = { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 };
const standby: ReplicaNode = { id: 'replica-b.test:6379', host: 'replica-b.test', port: 6379 };

const names = (overrides: Partial<CertificateNames> = {}): CertificateNames => ({
  commonNames: [],
  dns: [],
  ips: [],
  uris: [],
  ...overrides,
});

function identity(certificate?: CertificateNames): ConnectionIdentity {
  return {
    peerAddress: '10.0.0.5',
    peerPort: 50000,
    listeningPort: 6379,
    announcedIp: undefined,
    request: { kind: 'psync', replid: '?', offset: -1 },
    ...(certificate === undefined ? {} : { certificate }),
  };
}

const defaults = (node: ReplicaNode): IdentityPattern[] => defaultIdentityPatterns(node.host);

describe('certificateCandidates', () => {
  test('no certificate: every candidate stays (the other rules decide)', () => {
    const result = certificateCandidates(identity(), [active, standby], defaults);
    assert.deepEqual(result, { nodes: [active, standby], matched: new Map() });
  });

  test("by default a node's host must be among the subjectAltNames", () => {
    const ofActive = certificateCandidates(
      identity(names({ ips: ['10.0.0.5'] })),
      [active, standby],
      defaults,
    );
    assert.ok('nodes' in ofActive);
    assert.deepEqual(ofActive.nodes, [active]);
    assert.equal(ofActive.matched.get(active.id), 'ip:10.0.0.5 matched 10.0.0.5');

    const ofStandby = certificateCandidates(
      identity(names({ dns: ['REPLICA-B.test'] })),
      [active, standby],
      defaults,
    );
    assert.ok('nodes' in ofStandby);
    assert.deepEqual(ofStandby.nodes, [standby]);
  });

  test("a CN alone is not a host's default identity", () => {
    const result = certificateCandidates(
      identity(names({ commonNames: ['10.0.0.5', 'replica-b.test'] })),
      [active, standby],
      defaults,
    );
    assert.ok('refused' in result);
  });

  test("a stranger's certificate is refused, naming its names and what each node is", () => {
    const result = certificateCandidates(
      identity(names({ commonNames: ['mallory'], dns: ['mallory.test'], ips: ['10.0.0.66'] })),
      [active, standby],
      defaults,
    );
    assert.ok('refused' in result);
    assert.equal(
      result.refused,
      'its client certificate (CN mallory, DNS mallory.test, IP 10.0.0.66) is not a configured ' +
        "replica's (10.0.0.5:6379 is ip:10.0.0.5; replica-b.test:6379 is dns:replica-b.test)",
    );
  });

  test('configured patterns replace the default one', () => {
    const patterns = new Map([
      [active.id, parseIdentityPatterns('cn:replica-a, uri:spiffe://test/replica-a', 'x')],
      [standby.id, parseIdentityPatterns('dns:*.replicas.test', 'x')],
    ]);
    const configured = (node: ReplicaNode) => patterns.get(node.id) ?? [];
    const byUri = certificateCandidates(
      identity(names({ uris: ['spiffe://test/replica-a'], ips: ['10.0.0.5'] })),
      [active, standby],
      configured,
    );
    assert.ok('nodes' in byUri);
    assert.deepEqual(byUri.nodes, [active]);
    assert.equal(
      byUri.matched.get(active.id),
      'uri:spiffe://test/replica-a matched spiffe://test/replica-a',
    );

    // The host no longer counts once patterns are configured.
    const byHost = certificateCandidates(
      identity(names({ ips: ['10.0.0.5'] })),
      [active],
      configured,
    );
    assert.ok('refused' in byHost);

    const wildcard = certificateCandidates(
      identity(names({ dns: ['b.replicas.test'] })),
      [active, standby],
      configured,
    );
    assert.ok('nodes' in wildcard);
    assert.deepEqual(wildcard.nodes, [standby]);
  });

  test('a certificate that matches both nodes leaves both to the node check', () => {
    const both = () => parseIdentityPatterns('cn:shared', 'x');
    const result = certificateCandidates(
      identity(names({ commonNames: ['shared'] })),
      [active, standby],
      both,
    );
    assert.ok('nodes' in result);
    assert.deepEqual(result.nodes, [active, standby]);
  });

  test('no candidates by port: nothing to refuse here (the port rule says why)', () => {
    const result = certificateCandidates(identity(names({ commonNames: ['x'] })), [], defaults);
    assert.deepEqual(result, { nodes: [], matched: new Map() });
  });

  test('describeNames of a certificate without names', () => {
    assert.equal(describeNames(names()), 'no names');
  });
});

describe('ReplicaMatcher with identity patterns', () => {
  const asked: string[] = [];
  const matcher = new ReplicaMatcher({
    nodes: () => [active, standby],
    announce: () => ({ host: '10.0.0.9', port: 6382 }),
    inspector: {
      role: (node) => {
        asked.push(node.id);
        return Promise.resolve(['slave', '10.0.0.9', 6382, 'handshake', -1]);
      },
    },
    resolve: (host) => Promise.resolve([host]),
    identityOf: defaults,
    pollMs: 1,
    verifyTimeoutMs: 50,
  });

  test('a refused certificate never asks a node', async () => {
    asked.length = 0;
    const outcome = await matcher.match(identity(names({ ips: ['10.0.0.66'] })), () => 0);
    assert.equal(outcome.node, undefined);
    assert.match(outcome.node === undefined ? outcome.why : '', /client certificate/);
    assert.deepEqual(asked, []);
  });

  test('the certificate picks the node, and the match is reported', async () => {
    asked.length = 0;
    const outcome = await matcher.match(identity(names({ ips: ['10.0.0.5'] })), () => 0);
    assert.equal(outcome.node, active);
    assert.equal(
      outcome.node === undefined ? '' : outcome.certificate,
      'ip:10.0.0.5 matched 10.0.0.5',
    );
    assert.deepEqual(asked, [active.id]);
  });

  test('certificateFits: whether a connection with that certificate can be a rival', () => {
    assert.equal(matcher.certificateFits(active, names({ ips: ['10.0.0.5'] })), true);
    assert.equal(matcher.certificateFits(standby, names({ ips: ['10.0.0.5'] })), false);
    const unchecked = new ReplicaMatcher({
      nodes: () => [active],
      announce: () => ({ host: '10.0.0.9', port: 6382 }),
      inspector: { role: () => Promise.resolve([]) },
    });
    assert.equal(unchecked.certificateFits(standby, names()), true);
  });
});
