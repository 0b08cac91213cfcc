// src/lib/loopback.ts: the one rule for "this host" (config check, anonymous pulls, upstream scheme, setup, doctor).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopback } from '../../src/lib/loopback.ts';

test('loopback: 127.0.0.0/8, ::1 in any spelling, IPv4-mapped, localhost names, bracketed IPv6', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2', '[::1]', 'localhost', 'LocalHost', 'node.localhost']) {
    assert.equal(isLoopback(host), true, host);
  }
});

test('not loopback: other addresses, wildcards, look-alike names, short or hex IPv4 forms, ports', () => {
  for (const host of [undefined, '', '10.0.0.1', '192.168.64.20', '128.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '::', '0.0.0.0', '[::2]',
    'localhost.example.com', 'mylocalhost', '127.1', '0x7f.0.0.1', '127.0.0.1:5000']) {
    assert.equal(isLoopback(host), false, String(host));
  }
});
