// How the TLS client hops word their failures: a failed handshake (after the TCP connection) in
// words an operator can act on, a connection that never reached TLS as its own message; and the
// host a rediss:// URL is verified as.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectFailureText, urlHost } from '../../src/nodes/control-client.js';
import { upstreamTlsFailure } from '../../src/proxy/upstream-tls.js';

function failure(code: string, message = `failed: ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

describe('upstreamTlsFailure', () => {
  test('a handshake failure is described', () => {
    assert.match(
      upstreamTlsFailure(failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), true),
      /does not chain to the configured CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    );
    assert.match(
      upstreamTlsFailure(failure('ERR_TLS_CERT_ALTNAME_INVALID'), true),
      /does not carry the expected name/,
    );
    assert.match(upstreamTlsFailure(failure('CERT_HAS_EXPIRED'), true), /has expired/);
  });

  test('a connection that never reached the handshake keeps its own message', () => {
    const refused = failure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379');
    assert.equal(upstreamTlsFailure(refused, false), 'connect ECONNREFUSED 127.0.0.1:6379');
  });
});

describe('connectFailureText', () => {
  test('TLS failures in words, anything else as its message', () => {
    assert.match(
      connectFailureText(failure('SELF_SIGNED_CERT_IN_CHAIN')),
      /^TLS: the server's certificate does not chain to the configured CA/,
    );
    assert.match(
      connectFailureText(failure('ERR_SSL_WRONG_VERSION_NUMBER')),
      /^TLS: the server does not speak TLS/,
    );
    assert.equal(
      connectFailureText(failure('ECONNREFUSED', 'connect ECONNREFUSED')),
      'connect ECONNREFUSED',
    );
  });
});

describe('urlHost', () => {
  test('the host of a rediss:// URL, credentials and port left out', () => {
    assert.equal(urlHost('rediss://user:pw@events.example:6380/0'), 'events.example');
    assert.equal(urlHost('rediss://127.0.0.1:6380'), '127.0.0.1');
    assert.equal(urlHost('rediss://[::1]:6380'), '::1');
  });
});
