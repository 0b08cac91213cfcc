// src/lib/host-port.ts: IPv6 literals in brackets wherever a port follows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bracketHost, formatHostPort, hostOfAuthority, unbracketHost } from '../../src/lib/host-port.ts';

test('IPv6 literals get brackets once; names and IPv4 stay as they are', () => {
  assert.equal(bracketHost('::1'), '[::1]');
  assert.equal(bracketHost('[::1]'), '[::1]');
  assert.equal(bracketHost('fd00::5'), '[fd00::5]');
  assert.equal(bracketHost('10.0.0.5'), '10.0.0.5');
  assert.equal(bracketHost('seed.lan'), 'seed.lan');
  assert.equal(formatHostPort('::', 5002), '[::]:5002');
  assert.equal(formatHostPort('127.0.0.1', 5000), '127.0.0.1:5000');
  assert.equal(unbracketHost('[::1]'), '::1');
  assert.equal(unbracketHost('10.0.0.5'), '10.0.0.5');
});

test('the host of an authority, without port or brackets', () => {
  assert.equal(hostOfAuthority('localhost:5000'), 'localhost');
  assert.equal(hostOfAuthority('seed.lan'), 'seed.lan');
  assert.equal(hostOfAuthority('[::1]:5000'), '::1');
  assert.equal(hostOfAuthority('[::1]'), '::1');
  assert.equal(hostOfAuthority('::1'), '::1', 'a bare IPv6 address has no port to strip');
  assert.equal(hostOfAuthority('127.0.0.1:80'), '127.0.0.1');
});
