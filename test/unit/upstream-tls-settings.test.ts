// Which upstreams the start-up warnings name: skip-verify only where TLS is used, and TLS settings
// given for a plain-HTTP seed (ignored without a word, and warned about as skip-verify before).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tlsSettingsUnused, unverifiedUpstreams } from '../../src/upstream/tls-clients.ts';

const upstreams = [
  { url: 'https://seed.lan:5000', tls: { skipVerify: true } },
  { url: 'http://192.168.64.150:5000', tls: { skipVerify: true, caFile: '/etc/shoal/ca.crt' } },
  { url: 'http://plain:5000' },
  { url: 'http://plain-default:5000', tls: { skipVerify: false } },
  { url: 'https://verified:443', tls: { caFile: '/etc/shoal/ca.crt' } },
];

test('skip-verify is a warning for https:// upstreams only', () => {
  assert.deepEqual(unverifiedUpstreams(upstreams), ['https://seed.lan:5000']);
});

test('TLS settings on an http:// upstream are named as unused', () => {
  assert.deepEqual(tlsSettingsUnused(upstreams), ['http://192.168.64.150:5000']);
});
