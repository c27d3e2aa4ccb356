// The DNS rebinding guard (src/http/host-check.ts): which Host headers the unauthenticated reads
// answer. A rebinding page always sends its own name, so names are refused unless loopback,
// the --http host or listed; an IP literal is accepted when it is the address the request
// arrived on (a wildcard listener reached through the pod's IP, say).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostCheck } from '../../src/http/host-check.js';

const check = hostCheck({ listenHost: '0.0.0.0', allowedHosts: ['rbuddy.internal', '[fd00::9]'] });
const arrivedOn = (address: string | undefined) => (): string | undefined => address;

test('loopback names and addresses are always accepted, with or without a port', () => {
  for (const host of [
    'localhost',
    'localhost:9999',
    'LOCALHOST.',
    'admin.localhost:9999',
    '127.0.0.1',
    '127.1.2.3:80',
    '[::1]',
    '[::1]:9999',
  ]) {
    assert.equal(check(host, arrivedOn('10.0.0.7')), true, host);
  }
});

test('listed names and the --http host are accepted, case-insensitively', () => {
  for (const host of [
    'rbuddy.internal',
    'RBUDDY.Internal:9999',
    'rbuddy.internal.',
    '[fd00::9]:1',
    '0.0.0.0',
  ]) {
    assert.equal(check(host, arrivedOn('10.0.0.7')), true, host);
  }
});

test('the address the request arrived on is accepted, IPv4-mapped or not', () => {
  assert.equal(check('10.0.0.7:9999', arrivedOn('10.0.0.7')), true);
  assert.equal(check('10.0.0.7:9999', arrivedOn('::ffff:10.0.0.7')), true);
  assert.equal(check('[fd00::7]:9999', arrivedOn('fd00::7')), true);
  assert.equal(check('10.0.0.8:9999', arrivedOn('10.0.0.7')), false, 'another address');
  assert.equal(check('10.0.0.7', arrivedOn(undefined)), false, 'no local address known');
});

test('other names, and anything that is not a plain host[:port], are refused', () => {
  for (const host of [
    'attacker.example',
    'attacker.example:9999',
    'localhost.attacker.example',
    'rbuddy.internal.attacker.example',
    'evil@127.0.0.1',
    '127.0.0.1/x',
    'localhost:99999999',
    '',
    '[not-an-ip]',
  ]) {
    assert.equal(check(host, arrivedOn('10.0.0.7')), false, JSON.stringify(host));
  }
});

test('no Host header at all (HTTP/1.0, never a browser) is accepted', () => {
  assert.equal(check(undefined, arrivedOn('10.0.0.7')), true);
});
