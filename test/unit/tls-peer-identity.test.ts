// Identity by certificate: the patterns an operator writes (cn:, dns:, ip:, uri:), how they match
// the names of a verified certificate (RFC 6125 wildcards, IP ranges, exact URIs), Node's
// subjectaltname text (quoted values included), and the default identity (the configured host).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../src/errors.js';
import {
  certificateNames,
  defaultIdentityPatterns,
  dnsNameMatches,
  matchIdentity,
  parseIdentityPatterns,
  parseSubjectAltName,
  type NamedCertificate,
} from '../../src/tls/peer-identity.js';

const KEY = '--active-tls-identity';

function cert(cn: string | string[] | undefined, san: string | undefined): NamedCertificate {
  // tls.PeerCertificate#subject as Node builds it: CN is an array when the subject has several.
  const subject = { C: '', ST: '', L: '', O: '', OU: '', CN: '' };
  return {
    subject: cn === undefined ? undefined : Object.assign(subject, { CN: cn }),
    subjectaltname: san,
  };
}

const replicaA = cert(
  'replica-a',
  'DNS:replica-a.test, DNS:replica-a.redis.svc.cluster.local, IP Address:10.0.0.5, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://test/ns/redis/sa/replica-a',
);

function matches(patterns: string, certificate = replicaA): boolean {
  return matchIdentity(certificateNames(certificate), parseIdentityPatterns(patterns, KEY)).matched;
}

void describe('parseIdentityPatterns', () => {
  void test('parses each kind, comma separated, ignoring blanks and case of the kind', () => {
    const patterns = parseIdentityPatterns(
      ' CN:Replica-A , dns:*.redis.svc, ip:10.0.0.0/24,uri:spiffe://x/y,',
      KEY,
    );
    assert.deepEqual(
      patterns.map((p) => `${p.kind}:${p.pattern}`),
      ['cn:replica-a', 'dns:*.redis.svc', 'ip:10.0.0.0/24', 'uri:spiffe://x/y'],
    );
  });

  for (const bad of [
    'replica-a',
    'host:replica-a',
    'dns:',
    'dns:a.*.test',
    'dns:*a.test',
    'dns:*.com',
    'ip:10.0.0',
    'ip:10.0.0.0/33',
    'ip:10.0.0.0/x',
    'ip:::1/129',
  ]) {
    void test(`refuses "${bad}" with a ConfigError naming the key`, () => {
      assert.throws(
        () => parseIdentityPatterns(bad, KEY),
        (error: unknown) =>
          error instanceof ConfigError && error.key === KEY && error.message.startsWith(KEY),
      );
    });
  }
});

void describe('matchIdentity', () => {
  void test('cn: matches the subject CN, not the SAN', () => {
    assert.equal(matches('cn:replica-a'), true);
    assert.equal(matches('cn:REPLICA-A'), true);
    assert.equal(matches('cn:replica-a.test'), false);
    assert.equal(matches('cn:replica-b'), false);
  });

  void test('a subject with several CNs counts by its last (most specific) one only', () => {
    assert.equal(matches('cn:second', cert(['first', 'second'], undefined)), true);
    // CN=stranger, CN=replica-a must not pass as replica-a's by its first name, nor the other
    // way round as a stranger's by its last.
    assert.equal(matches('cn:first', cert(['first', 'second'], undefined)), false);
  });

  void test('dns: matches DNS SANs exactly or by one leftmost wildcard label', () => {
    assert.equal(matches('dns:replica-a.test'), true);
    assert.equal(matches('dns:replica-a.test.'), true);
    assert.equal(matches('dns:*.redis.svc.cluster.local'), true);
    assert.equal(matches('dns:*.svc.cluster.local'), false);
    assert.equal(matches('dns:replica-a'), false, 'a CN is not a DNS SAN');
  });

  void test('ip: matches IP SANs by address or range, whatever their spelling', () => {
    assert.equal(matches('ip:10.0.0.5'), true);
    assert.equal(matches('ip:10.0.0.0/29'), true);
    assert.equal(matches('ip:10.0.0.8/29'), false);
    assert.equal(matches('ip:::1'), true, 'Node writes ::1 as 0:0:0:0:0:0:0:1');
    assert.equal(matches('ip:10.0.0.6'), false);
  });

  void test('uri: matches a URI SAN exactly', () => {
    assert.equal(matches('uri:spiffe://test/ns/redis/sa/replica-a'), true);
    assert.equal(matches('uri:spiffe://test/ns/redis/sa/replica'), false);
  });

  void test('any one pattern is enough; the match says which', () => {
    const match = matchIdentity(
      certificateNames(replicaA),
      parseIdentityPatterns('cn:nobody, ip:10.0.0.5', KEY),
    );
    assert.deepEqual(match, { matched: true, pattern: 'ip:10.0.0.5', name: '10.0.0.5' });
  });

  void test("no pattern, no match; a miss lists the certificate's names for the log", () => {
    const miss = matchIdentity(certificateNames(replicaA), []);
    assert.equal(miss.matched, false);
    if (!miss.matched) assert.deepEqual(miss.names.commonNames, ['replica-a']);
  });

  void test('a certificate without names matches nothing', () => {
    assert.equal(matches('cn:replica-a, dns:replica-a.test', cert(undefined, undefined)), false);
  });

  void test('the default identity is the configured host, as a DNS or IP SAN', () => {
    const names = certificateNames(replicaA);
    assert.equal(matchIdentity(names, defaultIdentityPatterns('replica-a.test')).matched, true);
    assert.equal(matchIdentity(names, defaultIdentityPatterns('10.0.0.5')).matched, true);
    assert.equal(matchIdentity(names, defaultIdentityPatterns('10.0.0.6')).matched, false);
    // The CN alone does not do: a server name is checked against the SAN (RFC 6125).
    assert.equal(matchIdentity(names, defaultIdentityPatterns('replica-a')).matched, false);
  });
});

void describe('parseSubjectAltName', () => {
  void test("splits Node's text, JSON-quoted values included", () => {
    assert.deepEqual(parseSubjectAltName('DNS:a.test, DNS:"b, DNS:evil.test", URI:"x\\"y"'), [
      { type: 'DNS', value: 'a.test' },
      { type: 'DNS', value: 'b, DNS:evil.test' },
      { type: 'URI', value: 'x"y' },
    ]);
  });

  void test('a value hiding a second entry does not match as that entry', () => {
    assert.equal(matches('dns:evil.test', cert(undefined, 'DNS:"b, DNS:evil.test"')), false);
  });
});

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const dnsName = fc.array(label, { minLength: 2, maxLength: 5 }).map((labels) => labels.join('.'));

void describe('DNS matching properties', () => {
  void test('a name matches itself whatever its case or trailing dot', () => {
    fc.assert(
      fc.property(dnsName, fc.boolean(), (name, dot) => {
        const written = `${name.toUpperCase()}${dot ? '.' : ''}`;
        assert.equal(matches(`dns:${name}`, cert(undefined, `DNS:${written}`)), true);
      }),
    );
  });

  void test('*.parent matches exactly one more label, never the parent or two more', () => {
    fc.assert(
      fc.property(dnsName, label, label, (parent, one, two) => {
        const pattern = `*.${parent}`;
        assert.equal(dnsNameMatches(pattern, `${one}.${parent}`), true);
        assert.equal(dnsNameMatches(pattern, parent), false);
        assert.equal(dnsNameMatches(pattern, `${one}.${two}.${parent}`), false);
      }),
    );
  });

  void test('a wildcard in the certificate never matches an exact pattern', () => {
    fc.assert(
      fc.property(dnsName, label, (parent, one) => {
        assert.equal(matches(`dns:${one}.${parent}`, cert(undefined, `DNS:*.${parent}`)), false);
      }),
    );
  });
});
