// src/lib/bootstrap-address.ts: the one rule for a bootstrap multiaddr (config check and swarm dialer).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootstrapAddressError, parseBootstrapAddress, type BootstrapProblem } from '../../src/lib/bootstrap-address.ts';

const peer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';

test('accepts /<ip4|ip6|dns*>/<host>/tcp/<port>/p2p/<peer id> and returns the peer id', () => {
  for (const raw of [`/ip4/10.0.0.5/tcp/5001/p2p/${peer}`, `/ip6/fd00::5/tcp/5001/p2p/${peer}`, `/dns4/seed.lan/tcp/5001/p2p/${peer}`]) {
    const parsed = parseBootstrapAddress(raw);
    assert.equal(parsed.peerId, peer, raw);
    assert.equal(parsed.multiaddr.toString(), raw);
  }
  assert.equal(parseBootstrapAddress('/ip4/10.0.0.5/tcp/5001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N').peerId, 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N');
});

test('refuses what shoal cannot dial or authenticate, naming the address and the reason', () => {
  const cases: Array<[string, BootstrapProblem, RegExp]> = [
    ['garbage', 'not-a-multiaddr', /not a multiaddr/],
    ['/ip4/10.0.0.5/tcp/5001', 'no-peer-id', /must end in \/p2p\/<peer id>/],
    ['/ip4/10.0.0.5/tcp/5001/p2p/xyz', 'bad-peer-id', /"xyz" is not a peer id/],
    [`/ip4/10.0.0.5/udp/5001/p2p/${peer}`, 'not-tcp', /over TCP/],
    [`/p2p/${peer}`, 'not-tcp', /over TCP/],
    [`/ip4/10.0.0.5/tcp/5001/p2p/${peer}/tcp/1`, 'no-peer-id', /must end in \/p2p/],
  ];
  for (const [raw, problem, reason] of cases) {
    assert.throws(() => parseBootstrapAddress(raw), (error: unknown) => {
      assert.ok(error instanceof BootstrapAddressError, raw);
      assert.equal(error.problem, problem, raw);
      assert.match(error.reason, reason, raw);
      assert.ok(error.message.startsWith(`bootstrap address ${JSON.stringify(raw)}: `), error.message);
      return true;
    });
  }
});
