import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  observeNode,
  candidatesFor,
  ReplicaMatcher,
  verifyClaim,
  type ConnectionIdentity,
  type NodeLinkObservation,
} from '../../src/proxy/replica-matcher.js';
import { type NodeInspector } from '../../src/nodes/node-inspector.js';
import { normalizeIp } from '../../src/addresses.js';
import type { ReplicaNode } from '../../src/nodes/replica-node.js';

const a: ReplicaNode = { id: '10.0.0.5:6379', host: '10.0.0.5', port: 6379 };
const b: ReplicaNode = { id: 'replica-b:6379', host: 'replica-b', port: 6379 };
const REPLID = 'r'.repeat(40);

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

function observation(
  node: ReplicaNode,
  overrides: Partial<NodeLinkObservation> = {},
): NodeLinkObservation {
  return {
    node,
    role: 'slave',
    followsProxy: true,
    linkState: 'handshake',
    ...overrides,
  };
}

const noRivals = (): number => 0;

describe('verifyClaim', () => {
  test('the node’s own replid and next offset prove nothing: they are in INFO and /v1/status', () => {
    const id = identity({ request: { kind: 'psync', replid: REPLID, offset: 1001 } });
    assert.equal(verifyClaim(id, [observation(b)], () => 1).kind, 'wait');
    assert.deepEqual(verifyClaim(id, [observation(b)], noRivals), {
      kind: 'verified',
      node: b,
      proof: 'sole-handshake',
    });
  });

  test('PSYNC ? -1 is verified only while no other connection could be the node’s', () => {
    assert.deepEqual(verifyClaim(identity(), [observation(a)], noRivals), {
      kind: 'verified',
      node: a,
      proof: 'sole-handshake',
    });
    const verdict = verifyClaim(identity(), [observation(a)], () => 1);
    assert.equal(verdict.kind, 'wait');
  });

  test('inline SYNC carries no secret either: the same rule as PSYNC ?', () => {
    const id = identity({ request: { kind: 'sync' } });
    assert.equal(verifyClaim(id, [observation(a)], noRivals).kind, 'verified');
    assert.equal(verifyClaim(id, [observation(a)], () => 2).kind, 'wait');
  });

  test('a wrong replid proves nothing: it falls back to the sole-handshake rule', () => {
    const id = identity({ request: { kind: 'psync', replid: 'x'.repeat(40), offset: 1001 } });
    assert.equal(verifyClaim(id, [observation(a)], () => 1).kind, 'wait');
  });

  test('a node with a live link is never replaced by a claim (the impersonation attack)', () => {
    const verdict = verifyClaim(identity(), [observation(a, { linkState: 'connected' })], noRivals);
    assert.equal(verdict.kind, 'refused');
    assert.match(verdict.kind === 'refused' ? verdict.why : '', /not in a replication handshake/);
  });

  test('an idle standby in master mode, or a replica of another master, is not this connection', () => {
    assert.equal(
      verifyClaim(identity(), [observation(a, { role: 'master', followsProxy: false })], noRivals)
        .kind,
      'refused',
    );
    assert.equal(
      verifyClaim(identity(), [observation(a, { followsProxy: false })], noRivals).kind,
      'refused',
    );
  });

  test('an unreachable node cannot confirm: refused, naming why', () => {
    const verdict = verifyClaim(
      identity(),
      [observation(a, { error: 'connect ECONNREFUSED' })],
      noRivals,
    );
    assert.equal(verdict.kind, 'refused');
    assert.match(verdict.kind === 'refused' ? verdict.why : '', /ECONNREFUSED/);
  });

  test('two nodes on one port both handshaking with no proof: no guess', () => {
    assert.equal(verifyClaim(identity(), [observation(a), observation(b)], noRivals).kind, 'wait');
  });

  test('no listening port, or a port no replica has: refused', () => {
    assert.equal(verifyClaim(identity({ listeningPort: undefined }), [], noRivals).kind, 'refused');
    assert.equal(verifyClaim(identity({ listeningPort: 9 }), [], noRivals).kind, 'refused');
  });
});

describe('candidatesFor (per-replica credentials)', () => {
  const c: ReplicaNode = { id: '10.0.0.7:6379', host: '10.0.0.7', port: 6379 };
  const bound = (node: ReplicaNode): string | undefined =>
    node === a ? 'rep-a' : node === b ? 'rep-b' : undefined;

  test('a connection AUTHed as a replica user can be that replica only', () => {
    assert.deepEqual(candidatesFor(identity({ replicaUser: 'rep-b' }), [a, b, c], bound), {
      nodes: [b],
    });
    const wrongPort = candidatesFor(
      identity({ replicaUser: 'rep-b', listeningPort: 7000 }),
      [a, b],
      bound,
    );
    assert.ok('refused' in wrongPort);
  });

  test('a replica with its own user is never a candidate for a connection without it', () => {
    assert.deepEqual(candidatesFor(identity(), [a, b, c], bound), { nodes: [c] });
    assert.ok('refused' in candidatesFor(identity(), [a, b], bound));
  });

  test('without credentials every replica on the port is a candidate', () => {
    assert.deepEqual(
      candidatesFor(identity(), [a, b], () => undefined),
      { nodes: [a, b] },
    );
  });
});

describe('observeNode', () => {
  test('reads ROLE’s link state and the master it follows', () => {
    const seen: string[] = [];
    const o = observeNode(a, ['slave', '10.0.0.9', 6382, 'handshake', -1], (host, port) => {
      seen.push(`${host}:${port}`);
      return true;
    });
    assert.deepEqual(seen, ['10.0.0.9:6382']);
    assert.equal(o.role, 'slave');
    assert.equal(o.linkState, 'handshake');
    assert.equal(o.followsProxy, true);
  });

  test('a master has no link state and follows nobody', () => {
    const o = observeNode(a, ['master', 0, []], () => true);
    assert.equal(o.role, 'master');
    assert.equal(o.followsProxy, false);
    assert.equal(o.linkState, undefined);
  });

  test('normalizeIp folds IPv4-mapped addresses and case', () => {
    assert.equal(normalizeIp('::FFFF:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('FE80::1'), 'fe80::1');
  });
});

describe('ReplicaMatcher', () => {
  function inspector(states: Map<string, string>): NodeInspector & { asked: string[] } {
    const asked: string[] = [];
    return {
      asked,
      role: (node) => {
        asked.push(node.id);
        const state = states.get(node.id);
        return state === undefined
          ? Promise.reject(new Error('down'))
          : Promise.resolve(['slave', 'rbuddy.local', 6382, state, -1]);
      },
    };
  }
  const resolve = (host: string): Promise<string[]> =>
    Promise.resolve(host === 'rbuddy.local' ? ['10.0.0.9'] : [host]);

  test('asks only the nodes with the claimed port, resolving the master host by name', async () => {
    const nodes = inspector(new Map([[b.id, 'handshake']]));
    const other: ReplicaNode = { id: '10.0.0.7:7000', host: '10.0.0.7', port: 7000 };
    const matcher = new ReplicaMatcher({
      nodes: () => [b, other],
      announce: () => ({ host: '10.0.0.9', port: 6382 }),
      inspector: nodes,
      resolve,
    });
    const outcome = await matcher.match(identity(), noRivals);
    assert.equal(outcome.node, b);
    assert.deepEqual(nodes.asked, [b.id]);
  });

  test('an undecided claim is asked again, then refused at the deadline', async () => {
    const nodes = inspector(new Map([[a.id, 'handshake']]));
    let rivals = 1;
    const matcher = new ReplicaMatcher({
      nodes: () => [a],
      announce: () => ({ host: '10.0.0.9', port: 6382 }),
      inspector: nodes,
      resolve,
      pollMs: 5,
      verifyTimeoutMs: 10_000,
    });
    // The rival goes away after the second look: the claim is then the only one.
    const outcome = await matcher.match(identity(), () => (nodes.asked.length >= 2 ? 0 : rivals));
    assert.equal(outcome.node, a);
    assert.ok(nodes.asked.length >= 2);

    rivals = 1;
    const impatient = new ReplicaMatcher({
      nodes: () => [a],
      announce: () => ({ host: '10.0.0.9', port: 6382 }),
      inspector: inspector(new Map([[a.id, 'handshake']])),
      resolve,
      pollMs: 1,
      verifyTimeoutMs: 20,
    });
    const refused = await impatient.match(identity(), () => rivals);
    assert.equal(refused.node, undefined);
    assert.match(refused.node === undefined ? refused.why : '', /^unconfirmed/);
  });

  test('a node that cannot be asked refuses the claim', async () => {
    const matcher = new ReplicaMatcher({
      nodes: () => [a],
      announce: () => ({ host: '10.0.0.9', port: 6382 }),
      inspector: inspector(new Map()),
      resolve,
    });
    const outcome = await matcher.match(identity(), noRivals);
    assert.equal(outcome.node, undefined);
  });
});
